"""``provisioner doctor``: read-only checks of one tenant, what a user runs first and what support asks for.

It sends no create and spends a handful of requests (at most :data:`MAX_REQUESTS`): one page of the campaign list
with an explicit date window, the same page without one, two one-record pages that show whether the server honours
``skip`` or ``page``, and the contact lists. What it learns, ``run`` learns again on the fly: doctor is advice,
not a required step.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, TypeVar

from provisioner.api.campaign import Campaign
from provisioner.api.client import KoreClient, open_session
from provisioner.api.listing import END_MARGIN, EPOCH, PAGE_SIZE, CampaignPage, PageQuery
from provisioner.api.settings import Settings
from provisioner.errors import ApiError, AuthError, ConfigError, NotSentError, TLSError
from provisioner.logs import register_secret
from provisioner.provision.limiter import RollingWindowLimiter
from provisioner.provision.retry import READ_RETRYABLE, RetryPolicy, call_with_retries
from provisioner.sandbox import SandboxConfig, client_settings, running_sandbox

T = TypeVar("T")

#: The most requests one checkup sends.
MAX_REQUESTS: Final = 10
#: A skew beyond this makes tokens look issued in the future or already expired to a strict server.
SKEW_WARN_S: Final = 60.0
_RATE_HEADER: Final = re.compile(r"rate|limit|retry-after", re.IGNORECASE)
_SETTING_KEYS: Final = (
    "host",
    "stream_id",
    "account_id",
    "iid",
    "client_id",
    "client_secret",
    "ca_bundle",
    "rate_limit",
)


class Verdict(StrEnum):
    """How one finding bears on whether a run would be safe."""

    OK = "ok"
    INFO = "info"  # worth knowing; run copes with it
    WARN = "warn"  # run works, but slower or with a caveat
    FAIL = "fail"  # a run would stop (exit 3) or refuse to send


@dataclass(frozen=True)
class Finding:
    """One line of the checklist, with what to do about it."""

    check: str
    verdict: Verdict
    detail: str
    advice: str | None = None
    data: Mapping[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """Return the finding as plain JSON-ready data."""
        return {
            "check": self.check,
            "verdict": self.verdict.value,
            "detail": self.detail,
            "advice": self.advice,
            "data": dict(self.data),
        }


@dataclass(frozen=True)
class Checkup:
    """Everything doctor found, in the order it checked."""

    findings: list[Finding]
    requests: int

    @property
    def safe(self) -> bool:
        """Tell whether a run would be safe: nothing failed."""
        return all(f.verdict is not Verdict.FAIL for f in self.findings)

    def as_dict(self) -> dict[str, object]:
        """Return the checkup as plain JSON-ready data."""
        return {"safe": self.safe, "requests": self.requests, "findings": [f.as_dict() for f in self.findings]}


def run_doctor(settings: Callable[[], Settings], *, sandbox: bool = False) -> Checkup:
    """Check the tenant the settings name (or a built-in sandbox) and return the findings."""
    return asyncio.run(_doctor(settings, sandbox))


async def _doctor(settings_source: Callable[[], Settings], sandbox: bool) -> Checkup:
    findings: list[Finding] = []
    requests = 0
    async with _tenant(settings_source, sandbox, findings) as settings:
        if settings is not None:
            findings.append(_settings_finding(settings))
            async with _Probe(settings) as probe:
                await probe.examine(findings)
            requests = probe.requests
    return Checkup(findings, requests)


@contextlib.asynccontextmanager
async def _tenant(
    source: Callable[[], Settings], sandbox: bool, findings: list[Finding]
) -> AsyncIterator[Settings | None]:
    if sandbox:
        config = SandboxConfig()
        register_secret(config.client_secret)
        async with running_sandbox(config) as server:
            settings = client_settings(server.url, config)
            yield dataclasses.replace(settings, origins=dict.fromkeys(_SETTING_KEYS, "the built-in sandbox"))
        return
    try:
        settings = source()
    except ConfigError as exc:
        findings.append(Finding("settings", Verdict.FAIL, "the settings cannot be resolved", str(exc)))
        yield None
        return
    register_secret(settings.client_secret)
    yield settings


def _settings_finding(settings: Settings) -> Finding:
    values = {key: _shown(key, getattr(settings, key)) for key in _SETTING_KEYS}
    origins = {key: settings.origins.get(key, "default") for key in _SETTING_KEYS}
    lines = [f"  {key} = {values[key] or '(not set)'}  (from {origins[key]})" for key in _SETTING_KEYS]
    profile = f" (profile {settings.profile})" if settings.profile else ""
    return Finding(
        "settings",
        Verdict.OK,
        "\n".join([f"settings resolved{profile}:", *lines]),
        data={"values": values, "origins": origins, "profile": settings.profile},
    )


def _shown(key: str, value: object) -> str | None:
    if key == "client_secret":
        return "***"
    return None if value is None or value == "" else str(value)


class _Probe:
    """The checkup's requests: one session, the tenant's rate limit, the usual retries for reads."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._limiter = RollingWindowLimiter(settings.rate_limit)
        self._stack = contextlib.AsyncExitStack()
        self.requests = 0
        self.rate_headers: dict[str, str] = {}

    async def __aenter__(self) -> _Probe:
        session = await self._stack.enter_async_context(open_session(self._settings, limit=2))
        self._client = KoreClient(self._settings, session, limiter=self._limiter)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _ask(self, call: Callable[[], Awaitable[T]]) -> T:
        async def counted() -> T:
            self.requests += 1
            try:
                return await call()
            finally:
                headers = self._client.last_headers
                self.rate_headers |= {k: v for k, v in headers.items() if _RATE_HEADER.search(k)}

        return await call_with_retries(counted, retry_on=READ_RETRYABLE, policy=RetryPolicy(max_attempts=2))

    def _page(self, *, skip: int, page: int, limit: int, window: bool) -> Awaitable[CampaignPage]:
        start, end = (EPOCH, self._client.server_now() + END_MARGIN) if window else (None, None)
        query = PageQuery(skip=skip, page=page, limit=limit, start=start, end=end)
        return self._ask(lambda: self._client.list_campaigns_page(query))

    async def examine(self, findings: list[Finding]) -> None:
        """Run every check, appending findings; stop at the first failure that makes the rest meaningless."""
        try:
            first = await self._page(skip=0, page=1, limit=PAGE_SIZE, window=True)
        except ApiError as exc:
            findings.append(_connection_failure(self._settings, exc))
            return
        secure = self._settings.host.startswith("https://")
        findings.append(
            Finding(
                "reachable",
                Verdict.OK,
                f"{self._settings.host} answered" + (" over verified TLS" if secure else " (plain http, loopback)"),
            )
        )
        findings.append(
            Finding("token", Verdict.OK, "the token was accepted and the app has the Campaign Management scope")
        )
        findings.append(self._clock())
        findings.append(_page_size(first))
        findings.append(_id_field(first))
        try:
            findings.append(await self._window(first))
            findings.append(await self._paging(first))
            findings.append(await self._contact_lists())
        except ApiError as exc:
            findings.append(
                Finding(
                    "api",
                    Verdict.FAIL,
                    f"a read failed: {exc}",
                    "run doctor again; if it persists, send this output to support",
                )
            )
        findings.append(self._rate_limit())

    def _clock(self) -> Finding:
        skew = self._client.server_offset_s
        if skew is None:
            return Finding(
                "clock",
                Verdict.INFO,
                "the server sends no Date header: its clock cannot be compared",
                "look-ups after an uncertain create then measure time with this machine's clock",
            )
        data = {"skew_s": round(skew, 1)}
        if abs(skew) > SKEW_WARN_S:
            return Finding(
                "clock",
                Verdict.WARN,
                f"this machine's clock is {abs(skew):.0f} s {'behind' if skew > 0 else 'ahead of'} the server's",
                "sync the clock (NTP): tokens carry this machine's time; look-ups already use the server's clock",
                data,
            )
        return Finding("clock", Verdict.OK, f"clocks agree within {max(abs(skew), 1):.0f} s", data=data)

    async def _window(self, first: CampaignPage) -> Finding:
        bare = await self._page(skip=0, page=1, limit=PAGE_SIZE, window=False)
        data = {"total_with_window": first.total, "total_without_window": bare.total}
        if first.total is None or bare.total is None:
            return Finding(
                "date-window",
                Verdict.INFO,
                "the server reports no totalResults: a default date window cannot be measured",
                "provisioner always sends an explicit window",
                data,
            )
        if bare.total < first.total:
            return Finding(
                "date-window",
                Verdict.INFO,
                f"without dates the server lists {bare.total} of {first.total} campaigns: a default date window hides "
                f"{first.total - bare.total} older ones",
                "nothing to do: provisioner always sends an explicit window from 2000 on",
                data,
            )
        return Finding(
            "date-window", Verdict.OK, f"no default date window: {first.total} campaigns either way", data=data
        )

    async def _paging(self, first: CampaignPage) -> Finding:
        records = first.campaigns
        if len(records) < 2:
            return Finding(
                "paging",
                Verdict.INFO,
                f"{len(records)} campaign(s) on the server: too few to tell whether it honours skip or page",
                "run finds out on the fly and refuses when it cannot read the list completely",
            )
        by_skip = await self._page(skip=1, page=1, limit=1, window=True)
        by_page = await self._page(skip=0, page=2, limit=1, window=True)
        skip = _starts_with(by_skip, records[1])
        page = _starts_with(by_page, records[1])
        data = {"skip": skip, "page": page}
        if skip:
            return Finding(
                "paging",
                Verdict.OK,
                "the server honours 'skip'"
                + (" and 'page'" if page else "")
                + ": the list is read once, pages overlapping by one record",
                data=data,
            )
        if page:
            return Finding(
                "paging",
                Verdict.WARN,
                "the server honours 'page' but not 'skip'",
                "runs read the campaign list twice to prove it complete (twice the list requests)",
                data,
            )
        return Finding(
            "paging",
            Verdict.FAIL,
            "the server honours neither 'skip' nor 'page'",
            "run would refuse to send (it cannot read the list completely); report this to the vendor",
            data,
        )

    async def _contact_lists(self) -> Finding:
        contact = await self._ask(self._client.list_contact_lists)
        lists = contact.lists
        kinds = Counter(c.list_type or "unknown" for c in lists)
        if contact.any_name:
            return Finding(
                "contact-lists",
                Verdict.OK,
                "this is the built-in sandbox: it accepts any contact list name",
                data={"count": len(lists), "any_name": True},
            )
        if not lists:
            return Finding(
                "contact-lists",
                Verdict.WARN,
                "no contact lists are visible to this app",
                "create the lists the workbook names, or check the app's account",
            )
        shown = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        return Finding(
            "contact-lists",
            Verdict.OK,
            f"{len(lists)} contact lists visible ({shown})",
            data={"count": len(lists), "types": dict(kinds)},
        )

    def _rate_limit(self) -> Finding:
        pace = f"provisioner paces requests at {self._settings.rate_limit}/min"
        if not self.rate_headers:
            return Finding("rate-limit", Verdict.INFO, f"the server sends no rate-limit headers; {pace}")
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(self.rate_headers.items()))
        return Finding(
            "rate-limit",
            Verdict.INFO,
            f"rate-limit headers: {shown}; {pace}",
            data={"headers": dict(self.rate_headers)},
        )


def _connection_failure(settings: Settings, exc: ApiError) -> Finding:
    if isinstance(exc, TLSError):
        return Finding("reachable", Verdict.FAIL, str(exc), "fix the certificate trust (--ca-bundle) and run again")
    if isinstance(exc, NotSentError):
        return Finding("reachable", Verdict.FAIL, str(exc), f"check the host {settings.host} and the network")
    if isinstance(exc, AuthError):
        return Finding(
            "token",
            Verdict.FAIL,
            str(exc),
            "check the client id and secret, the app's scope and the account and stream ids",
        )
    return Finding("reachable", Verdict.FAIL, str(exc), "run doctor again; if it persists, send this to support")


def _page_size(first: CampaignPage) -> Finding:
    served = first.limit if first.limit is not None else len(first.campaigns)
    data = {"asked": PAGE_SIZE, "limit_reported": first.limit, "returned": len(first.campaigns), "total": first.total}
    more = first.total is not None and first.total > len(first.campaigns)
    if (first.limit is not None and first.limit < PAGE_SIZE) or (more and len(first.campaigns) < PAGE_SIZE):
        return Finding(
            "page-size",
            Verdict.INFO,
            f"asked for {PAGE_SIZE} per page, the server serves {served}",
            "nothing to do: provisioner follows the size the server serves",
            data,
        )
    return Finding(
        "page-size",
        Verdict.OK,
        f"asked for {PAGE_SIZE} per page and got "
        f"{len(first.campaigns)} of {first.total if first.total is not None else '?'}",
        data=data,
    )


def _id_field(first: CampaignPage) -> Finding:
    keys = Counter("_id" if "_id" in c.raw else "id" for c in first.campaigns)
    if not keys:
        return Finding("id-field", Verdict.INFO, "no campaigns to see which id key the list uses")
    shown = " and ".join(sorted(keys))
    return Finding(
        "id-field",
        Verdict.OK,
        f"list results carry the campaign id as {shown}; both are read",
        data={"keys": dict(keys)},
    )


def _starts_with(page: CampaignPage, campaign: Campaign) -> bool:
    return bool(page.campaigns) and page.campaigns[0].id == campaign.id
