"""The limits on password logins (``/auth/authorize``): per user name and per client address.

Per user name stops guessing one account's password; per address stops one client from
trying a few passwords on each of many accounts. Every attempt counts from when it starts
(see ``backendai.common.attempts``), so a concurrent burst cannot get past either limit.

The counts live in this manager's memory: with several managers behind a balancer each one
counts on its own, which multiplies the limits by their number but never lifts them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from backendai.common.attempts import Attempt, AttemptLimiter, AttemptsExhausted, Clock
from backendai.common.errors import LoginLocked


@dataclass
class LoginAttempt:
    """One login counted against its user name and its address; end it exactly once."""

    user: Attempt
    address: Attempt

    def fail(self) -> None:
        self.user.fail()
        self.address.fail()

    def succeed(self) -> None:
        self.user.succeed()
        # A right password for one account forgives nothing for the others tried from there.
        self.address.release()

    def release(self) -> None:
        self.user.release()
        self.address.release()


class LoginThrottle:
    def __init__(
        self,
        *,
        max_failures_per_user: int,
        max_failures_per_address: int,
        lock_seconds: float,
        clock: Clock = time.monotonic,
    ) -> None:
        self.users = AttemptLimiter(max_failures_per_user, lock_seconds, clock)
        self.addresses = AttemptLimiter(max_failures_per_address, lock_seconds, clock)

    def begin(self, username: str, address: str) -> LoginAttempt:
        """Count a login, or raise ``LoginLocked`` saying for how long it is refused."""
        name = username.strip().lower()
        try:
            user = self.users.begin(name)
        except AttemptsExhausted as e:
            raise LoginLocked(
                f"Too many failed or unfinished logins for {username} "
                f"({e.failures} failed, {e.in_flight} in progress): this account is locked "
                f"for now; try again in {e.retry_after} s.",
                retry_after=e.retry_after,
            ) from e
        try:
            from_address = self.addresses.begin(address)
        except AttemptsExhausted as e:
            user.release()
            raise LoginLocked(
                f"Too many failed logins from your address {address} "
                f"({e.failures} failed, {e.in_flight} in progress); try again in "
                f"{e.retry_after} s.",
                retry_after=e.retry_after,
            ) from e
        return LoginAttempt(user, from_address)
