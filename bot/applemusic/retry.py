"""Bounded retries for Apple Music requests: a policy, small retry decisions, and the sender that applies them.

A decision looks at the error an attempt would raise and says whether to try again (githubkit's habit):
`retry_rate_limited` (429: after Retry-After when Apple sent one, else after the backoff) and `retry_upstream`
(5xx, timeouts and connection failures: after the backoff). Anything no decision claims is raised at once.
`RetryingSender` stops at `max_attempts`, or when the next wait would take the total past `max_total_wait`; it waits
at least `base_delay` even when Retry-After says less (the transport already reads no zero or negative value, and
caps a huge one, which the budget then refuses).

A caller may give `send` a `still_allowed` check: it is awaited at every retry point, after the wait and before
the next attempt, and when it answers False the request is given up with `RequestWithdrawn` (a member unlinked
while their request waited to be retried: their token must not be sent again).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ..aio import Sleep
from ..retrying import Backoff
from .errors import AppleMusicError, RateLimited, UpstreamError, UpstreamTimeout, error_for_status
from .transport import NoAnswer, Outcome, Request, Response, Sender

__all__ = [
    "DEFAULT_DECISIONS",
    "RequestWithdrawn",
    "Retry",
    "RetryDecision",
    "RetryPolicy",
    "RetryingSender",
    "StillAllowed",
    "decide",
    "failure_of",
    "retry_rate_limited",
    "retry_upstream",
]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try. Every ratings call is idempotent, so 429, 5xx and timeouts are all retried.

    - `max_attempts`: total attempts per request (1 = no retry).
    - `base_delay`: first backoff; doubles per retry, capped at `max_delay`, with +/- `jitter` (a fraction).
    - `max_total_wait`: give up rather than sleep past this many seconds in total for one request.
    - `timeout`: per-attempt timeout in seconds.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_total_wait: float = 20.0
    timeout: float = 10.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_total_wait < 0:
            raise ValueError("delays must not be negative")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    @property
    def backoff_formula(self) -> Backoff:
        """This policy's delays as the bot's one backoff formula."""
        return Backoff(self.base_delay, self.max_delay, jitter=(1 - self.jitter, 1 + self.jitter))

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """Delay before retry number `retry` (1 for the first retry)."""
        return self.backoff_formula.delay(retry, rng)


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again: after `after` seconds when Apple said how long (Retry-After; at least the policy's `base_delay`),
    else after the policy's backoff."""

    after: float | None = None


#: Looks at the error an attempt would raise; a `Retry` to try again, None to leave it to the next decision.
RetryDecision = Callable[[AppleMusicError], Retry | None]


def retry_rate_limited(error: AppleMusicError) -> Retry | None:
    """429: honour Retry-After when present, else back off."""
    return Retry(after=error.retry_after) if isinstance(error, RateLimited) else None


def retry_upstream(error: AppleMusicError) -> Retry | None:
    """5xx, timeouts and connection failures: back off."""
    return Retry() if isinstance(error, (UpstreamError, UpstreamTimeout)) else None


DEFAULT_DECISIONS: tuple[RetryDecision, ...] = (retry_rate_limited, retry_upstream)

#: Asked before each retry of a request: may it still be sent? (False: the member unlinked meanwhile.)
StillAllowed = Callable[[], Awaitable[bool]]


class RequestWithdrawn(AppleMusicError):
    """The request's `still_allowed` check said no at a retry point: it was not sent again."""


def decide(error: AppleMusicError, decisions: Sequence[RetryDecision] = DEFAULT_DECISIONS) -> Retry | None:
    """The first decision that claims `error`; None (do not retry) when none does."""
    for decision in decisions:
        retry = decision(error)
        if retry is not None:
            return retry
    return None


def failure_of(outcome: Outcome) -> tuple[AppleMusicError, str]:
    """The error an unsuccessful attempt means, and a label for the log ("HTTP 503", "timeout", ...)."""
    if isinstance(outcome, NoAnswer):
        return outcome.error, outcome.reason
    error = error_for_status(outcome.status, outcome.errors, retry_after=outcome.retry_after)
    return error, f"HTTP {outcome.status}"


class RetryingSender:
    """Sends a request through `sender` until it succeeds, a decision declines, or the policy's bounds are hit.

    Returns the successful `Response`; raises the last attempt's `AppleMusicError` otherwise. Each retry is
    logged at INFO, giving up at WARNING, on `log`.
    """

    def __init__(
        self,
        sender: Sender,
        policy: RetryPolicy,
        *,
        rng: random.Random,
        log: logging.Logger,
        sleep: Sleep = asyncio.sleep,
        decisions: Sequence[RetryDecision] = DEFAULT_DECISIONS,
    ) -> None:
        self.sender = sender
        self.policy = policy
        self.decisions = tuple(decisions)
        self._rng = rng
        self._log = log
        self._sleep = sleep

    def _delay(self, retry: Retry, attempt: int) -> float:
        """Apple's `Retry-After` when it sent one, but never less than the policy's `base_delay` (a retry never
        fires back to back); else the backoff."""
        if retry.after is not None:
            return max(retry.after, self.policy.base_delay)
        return self.policy.backoff(attempt, self._rng)

    async def send(self, request: Request, *, still_allowed: StillAllowed | None = None) -> Response:
        """`still_allowed`, when given, is awaited before every retry (never before the first attempt: the
        caller has just decided to send it); False stops the request with `RequestWithdrawn`."""
        policy, method, path = self.policy, request.method, request.path
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            outcome = await self.sender.send(request)
            if isinstance(outcome, Response) and request.accepts(outcome.status):
                return outcome
            error, reason = failure_of(outcome)
            retry = decide(error, self.decisions)
            if retry is None or (not request.idempotent and not isinstance(error, RateLimited)):
                raise error
            if attempt >= policy.max_attempts:
                self._log.warning("Apple Music %s %s failed after %d attempts: %s", method, path, attempt, reason)
                raise error
            delay = self._delay(retry, attempt)
            if waited + delay > policy.max_total_wait:
                self._log.warning(
                    "Apple Music %s %s: %s; next wait %.2f s would exceed the %.2f s budget",
                    method,
                    path,
                    reason,
                    delay,
                    policy.max_total_wait,
                )
                raise error
            self._log.info(
                "Apple Music %s %s: %s, retry %d/%d in %.2f s",
                method,
                path,
                reason,
                attempt,
                policy.max_attempts - 1,
                delay,
            )
            await self._sleep(delay)
            waited += delay
            if still_allowed is not None and not await still_allowed():
                self._log.info("Apple Music %s %s: withdrawn before retry %d", method, path, attempt)
                raise RequestWithdrawn("the request was withdrawn before it was retried")
