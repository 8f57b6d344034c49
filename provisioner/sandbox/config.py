"""How a sandbox behaves (:class:`SandboxConfig`, :class:`Faults`) and what a client needs to reach one."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from provisioner.api import endpoints
from provisioner.api.settings import (
    ENV_ACCOUNT_ID,
    ENV_CLIENT_ID,
    ENV_CLIENT_SECRET,
    ENV_HOST,
    ENV_IID,
    ENV_STREAM_ID,
    Settings,
)
from provisioner.secret import Secret

FaultKind = Literal[
    "error_5xx", "spurious_429", "drop_before", "drop_after", "error_after", "slow_after", "failure_2xx"
]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = get_args(FaultKind)
#: Which request field says where a page starts: ``skip`` (an offset), ``page`` (1-based) or either.
Paging = Literal["skip", "page", "both"]
PAGINGS: Final[tuple[Paging, ...]] = get_args(Paging)
#: The key list results carry the campaign id under (the vendor's voice results show ``_id``, SMS ``id``).
ListIdField = Literal["_id", "id"]
LIST_ID_FIELDS: Final[tuple[ListIdField, ...]] = get_args(ListIdField)
#: The HTTP method the contact-list endpoint answers (the vendor documents POST).
ContactListMethod = Literal["POST", "GET"]
CONTACT_LIST_METHODS: Final[tuple[ContactListMethod, ...]] = get_args(ContactListMethod)
#: The status a Ready campaign whose schedule is enabled shows (the vendor lists Scheduled among the statuses).
ScheduledStatus = Literal["Ready", "Scheduled"]
SCHEDULED_STATUSES: Final[tuple[ScheduledStatus, ...]] = get_args(ScheduledStatus)


@dataclass(frozen=True, slots=True)
class Faults:
    """How often the sandbox misbehaves: probabilities (0..1, together at most 1) drawn once per request.

    ``spurious_429``, ``error_5xx``, ``drop_before`` and ``failure_2xx`` strike any endpoint before anything
    is stored; ``drop_after``, ``error_after`` and ``slow_after`` strike a write (create, update, delete, start
    or stop, schedule) after it took effect.
    """

    error_5xx: float = 0.0
    spurious_429: float = 0.0
    drop_before: float = 0.0
    drop_after: float = 0.0
    error_after: float = 0.0
    slow_after: float = 0.0
    failure_2xx: float = 0.0  # HTTP 200 with {"status": "failure"}, and nothing done
    slow_s: float = 30.0  # how long ``slow_after`` holds the reply; meant to exceed the client's timeout
    jitter_ms: float = 0.0  # random extra latency, uniform in 0..jitter_ms, on every accepted request

    def __post_init__(self) -> None:
        problems = [f"{kind} must be from 0 to 1" for kind in FAULT_KINDS if not 0 <= self.probability(kind) <= 1]
        if sum(map(self.probability, FAULT_KINDS)) > 1 + 1e-9:
            problems.append("the fault probabilities add up to more than 1")
        if self.slow_s < 0 or self.jitter_ms < 0:
            problems.append("slow_s and jitter_ms must not be negative")
        if problems:
            raise ValueError("; ".join(problems))

    def probability(self, kind: FaultKind) -> float:
        """Return the probability configured for one fault kind."""
        return float(getattr(self, kind))


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """How the sandbox behaves; ``SandboxConfig()`` makes fresh random credentials of the vendor's shape.

    The listing knobs (``page_cap``, ``paging``, ``default_window_days``, ``list_id_field``, ``churn_per_list_call``),
    ``contact_list_method``, ``scheduled_status`` and ``schedule_needs_ready`` act out behaviours the vendor's
    documents leave open; their defaults are the sandbox's original behaviour.
    """

    stream_id: str = field(default_factory=lambda: f"st-{uuid.uuid4()}")
    account_id: str = field(default_factory=lambda: secrets.token_hex(12))
    iid: str = ""  # empty means the stream id, which is what the vendor's sample sends
    client_id: str = field(default_factory=lambda: f"cs-{uuid.uuid4()}")
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    rate_limit: int = endpoints.DEFAULT_RATE_PER_MINUTE  # accepted requests per rolling window, per account
    window_s: float = 60.0
    retry_after_header: bool = False  # the vendor documents no Retry-After; turn on to test a client using it
    latency_ms: float = 0.0
    ready_after_s: float = 2.0  # how long a new campaign stays Preparing before it turns Ready
    contact_lists: frozenset[str] | None = None  # None: accept any contact list name and remember it
    listed_contact_lists: frozenset[str] = frozenset()  # with contact_lists None: listed from the start
    page_cap: int | None = None  # at most this many list results per page, whatever ``limit`` asks
    paging: Paging = "both"  # both: ``skip`` when sent, else ``page``
    default_window_days: float | None = None  # without start/end dates, list only campaigns this recent
    list_id_field: ListIdField = "_id"
    contact_list_method: ContactListMethod = "POST"
    scheduled_status: ScheduledStatus = "Ready"  # "Scheduled": a Ready campaign with an enabled schedule says so
    schedule_needs_ready: bool = False  # refuse to schedule a campaign still Preparing, as it refuses to start one
    clock_skew_s: float = 0.0  # the server's wall clock (Date header, createdAt/updatedAt) runs this far off
    churn_per_list_call: int = 0  # foreign campaigns created (and as many oldest foreign deleted) per list call
    log_requests: bool = False  # log each request served at INFO: method, path, status, milliseconds
    faults: Faults = field(default_factory=Faults)
    seed: int | None = None
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.iid:
            object.__setattr__(self, "iid", self.stream_id)
        problems = [
            text
            for bad, text in (
                (self.rate_limit < 1, "rate_limit must be at least 1"),
                (self.window_s <= 0, "window_s must be positive"),
                (self.latency_ms < 0, "latency_ms must not be negative"),
                (self.ready_after_s < 0, "ready_after_s must not be negative"),
                (self.page_cap is not None and self.page_cap < 1, "page_cap must be at least 1"),
                (self.paging not in PAGINGS, f"paging must be one of {', '.join(PAGINGS)}"),
                (
                    self.default_window_days is not None and self.default_window_days <= 0,
                    "default_window_days must be positive",
                ),
                (self.list_id_field not in LIST_ID_FIELDS, f"list_id_field must be one of {', '.join(LIST_ID_FIELDS)}"),
                (
                    self.contact_list_method not in CONTACT_LIST_METHODS,
                    f"contact_list_method must be one of {', '.join(CONTACT_LIST_METHODS)}",
                ),
                (self.churn_per_list_call < 0, "churn_per_list_call must not be negative"),
                (
                    self.scheduled_status not in SCHEDULED_STATUSES,
                    f"scheduled_status must be one of {', '.join(SCHEDULED_STATUSES)}",
                ),
            )
            if bad
        ]
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def generate(cls) -> SandboxConfig:
        """Return a default configuration with fresh random credentials."""
        return cls()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SandboxConfig:
        """Take the KORE_* credentials that are set (and not empty) in ``env``; generate the others."""
        fresh = cls.generate()
        return cls(
            stream_id=env.get(ENV_STREAM_ID) or fresh.stream_id,
            account_id=env.get(ENV_ACCOUNT_ID) or fresh.account_id,
            iid=env.get(ENV_IID, ""),
            client_id=env.get(ENV_CLIENT_ID) or fresh.client_id,
            client_secret=env.get(ENV_CLIENT_SECRET) or fresh.client_secret,
        )


def client_env(url: str, config: SandboxConfig) -> dict[str, str]:
    """Return the KORE_* variables a client needs to talk to a sandbox served at ``url``."""
    return {
        ENV_HOST: url,
        ENV_STREAM_ID: config.stream_id,
        ENV_ACCOUNT_ID: config.account_id,
        ENV_IID: config.iid,
        ENV_CLIENT_ID: config.client_id,
        ENV_CLIENT_SECRET: config.client_secret,
    }


def client_settings(url: str, config: SandboxConfig) -> Settings:
    """Return the Settings a client needs to talk to a sandbox served at ``url``."""
    return Settings(
        host=url,
        stream_id=config.stream_id,
        account_id=config.account_id,
        iid=config.iid,
        client_id=config.client_id,
        client_secret=Secret(config.client_secret),
        rate_limit=config.rate_limit,
    )
