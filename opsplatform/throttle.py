"""The throttle on failed sign-ins and bad API tokens, counted in the database (failure_counts)
so that every worker and host shares the counts.

Failures are counted per account (the normalised e-mail, known or not, so that the answer
tells nothing) and per client address. `limit` failures within `window` of the first lock
the account or address for `lock`; each further lock-out doubles that, up to `longest`,
until a day passes without a failure. A successful sign-in forgets its account's failures
(not its address's: a colleague's success must not wipe out a guesser's count).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from opsplatform.db import utcnow
from opsplatform.models import FailureCount

FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Policy:
    kind: str
    limit: int
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)
    longest: timedelta = timedelta(hours=4)


# one person's failed sign-ins lock out only that account
ACCOUNT = Policy("account", 10)
# a much higher bar, so that colleagues behind one proxy or NAT never lock each other out
ADDRESS = Policy("address", 100)
# a program holding a good token never fails; ten failures are a mistake or a probe
TOKEN = Policy("token", 10)
# requests for a password reset link, every one counted (known address or not), so that
# nobody can fill a person's inbox or the outbox
RESET_ACCOUNT = Policy("reset", 5, window=timedelta(hours=1), lock=timedelta(hours=1))
RESET_ADDRESS = Policy("resetaddr", 50, window=timedelta(hours=1), lock=timedelta(hours=1))

# both dialects' inserts take ON CONFLICT DO NOTHING; SQLAlchemy's generic one does not
_INSERT: dict[str, Callable[..., postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


class Throttle:
    """Counts failures under `secret`-keyed hashes of what they are counted against."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def locked(
        self, session: Session, policy: Policy, value: str, now: datetime | None = None
    ) -> int | None:
        """Seconds until `value` may be tried again, or None if it may be now."""
        row = session.get(FailureCount, (policy.kind, self._key(policy, value)))
        return _wait(row, now or utcnow())

    def attempt(
        self, session: Session, policy: Policy, value: str, now: datetime | None = None
    ) -> int | None:
        """Count an attempt as a failure before it is made, unless `value` is locked: then
        the seconds to wait, and nothing counted. Counting first lets no more than `limit`
        attempts through, however many run at once; `forget` undoes it on success."""
        now = now or utcnow()
        row = self._row(session, policy, value, now)
        wait = _wait(row, now)
        if wait is None:
            _count(row, policy, now)
        return wait

    def failed(
        self, session: Session, policy: Policy, value: str, now: datetime | None = None
    ) -> None:
        """Count a failure against `value`."""
        now = now or utcnow()
        _count(self._row(session, policy, value, now), policy, now)

    def forget(self, session: Session, policy: Policy, value: str) -> None:
        """Drop `value`'s failures and lock-outs."""
        key = self._key(policy, value)
        session.execute(
            delete(FailureCount).where(FailureCount.kind == policy.kind, FailureCount.key == key)
        )

    def _key(self, policy: Policy, value: str) -> str:
        message = f"{policy.kind}:{value}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _row(self, session: Session, policy: Policy, value: str, now: datetime) -> FailureCount:
        """`value`'s row, made if need be and locked until the transaction ends; rows not
        needed any more are dropped on the way."""
        session.execute(delete(FailureCount).where(FailureCount.forget_at <= now))
        key = self._key(policy, value)
        insert = _INSERT[session.get_bind().dialect.name]
        session.execute(
            insert(FailureCount)
            .values(
                kind=policy.kind,
                key=key,
                failures=0,
                window_started_at=now,
                lockouts=0,
                forget_at=now + FORGET_AFTER,
            )
            .on_conflict_do_nothing()
        )
        return session.scalars(
            select(FailureCount)
            .where(FailureCount.kind == policy.kind, FailureCount.key == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()


def _wait(row: FailureCount | None, now: datetime) -> int | None:
    if row is None or row.locked_until is None or row.locked_until <= now:
        return None
    return max(1, math.ceil((row.locked_until - now).total_seconds()))


def _count(row: FailureCount, policy: Policy, now: datetime) -> None:
    if row.failures == 0 or now >= row.window_started_at + policy.window:
        row.failures, row.window_started_at = 0, now
    row.failures += 1
    if row.failures >= policy.limit:
        # (the exponent is bounded so that a long siege cannot overflow the timedelta)
        doubled = policy.lock * 2 ** min(row.lockouts, 20)
        row.locked_until = now + min(doubled, policy.longest)
        row.lockouts += 1
        row.failures = 0
    row.forget_at = max(now, row.locked_until or now) + FORGET_AFTER
