"""The one retry policy for API calls, built from small tenacity parts.

What is retried depends on whether a call is safe to repeat: a read is, and so is an update (it sets the whole
campaign), so any transient failure is retried; a create is not, so only failures that prove the server did not
process it (rate-limited, not sent) are retried here, and an ambiguous create goes back to the caller to be
looked up first.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt, stop_after_delay
from tenacity.retry import retry_base, retry_if_exception_type
from tenacity.wait import wait_base

from provisioner.errors import ApiError, AuthError, NotSentError, RateLimitedError, TransientError

log = logging.getLogger("provisioner.provision.retry")
T = TypeVar("T")

#: Failures after which a create is provably not processed and may be resent blindly.
CREATE_RETRYABLE: tuple[type[ApiError], ...] = (RateLimitedError, NotSentError)
#: Failures after which a read may be repeated (reads have no side effect).
READ_RETRYABLE: tuple[type[ApiError], ...] = (RateLimitedError, TransientError)
#: An update replaces the whole campaign, so sending it twice is sending it once: retried like a read.
UPDATE_RETRYABLE: tuple[type[ApiError], ...] = READ_RETRYABLE
#: Setting a schedule sets it whole, so sending it twice is sending it once: retried like a read.
SCHEDULE_RETRYABLE: tuple[type[ApiError], ...] = READ_RETRYABLE
#: A start may begin a new round of calls each time it is processed: only a start provably not processed is resent.
START_RETRYABLE: tuple[type[ApiError], ...] = CREATE_RETRYABLE


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: bounded attempts and total time, exponential backoff with full jitter."""

    max_attempts: int = 6
    max_delay_s: float = 900.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0


class retry_auth_once(retry_base):
    """Retry an AuthError once: the client signs a fresh token for every attempt, which is the re-mint."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        """Tell whether this attempt failed on authentication for the first time."""
        outcome = retry_state.outcome
        return outcome is not None and isinstance(outcome.exception(), AuthError) and retry_state.attempt_number == 1


class wait_for_api(wait_base):
    """Wait Retry-After when the server gave one; after other failures, exponential backoff with full jitter.

    A rate-limited request without Retry-After waits only a moment here: the shared limiter already holds
    every worker of the account until the window frees, so waiting again would waste the window.
    """

    def __init__(self, policy: RetryPolicy, rng: random.Random) -> None:
        self._policy = policy
        self._rng = rng

    def __call__(self, retry_state: RetryCallState) -> float:
        """Return the seconds to wait before the next attempt."""
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, RateLimitedError):
            return error.retry_after if error.retry_after is not None else self._rng.uniform(0, 0.25)
        ceiling = min(self._policy.backoff_cap_s, self._policy.backoff_base_s * 2 ** (retry_state.attempt_number - 1))
        return self._rng.uniform(0, ceiling)


def _log_retry(retry_state: RetryCallState) -> None:
    error = retry_state.outcome.exception() if retry_state.outcome else None
    wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
    log.debug("retrying in %.1f s after attempt %d: %s", wait, retry_state.attempt_number, error)


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    retry_on: tuple[type[ApiError], ...],
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
) -> T:
    """Run ``attempt`` until it succeeds, fails for good, or the policy's attempts or time run out."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(retry_on) | retry_auth_once(),
        wait=wait_for_api(policy, rng or random.Random()),  # noqa: S311  (jitter, not cryptography)
        stop=stop_after_attempt(policy.max_attempts) | stop_after_delay(policy.max_delay_s),
        sleep=sleep,
        reraise=True,
        before_sleep=_log_retry,
    )

    async def once() -> T:
        # tenacity calls a plain callable without awaiting it; a lambda returning a coroutine must be awaited here.
        return await attempt()

    return await retrying(once)
