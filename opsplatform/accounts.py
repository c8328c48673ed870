"""Users, passwords, sessions and API tokens: argon2 password hashes, tokens stored as SHA-256
hashes, one session token per user that ends all its sessions when cleared."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from opsplatform.audit import record
from opsplatform.db import utcnow
from opsplatform.errors import CLIENT_NEEDED, Problem, Refused
from opsplatform.models import ApiToken, Client, User
from opsplatform.vocabulary import Role, UserStatus

_hasher = PasswordHasher()
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Checked against when the e-mail is unknown, so that sign-in takes as long either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
ONE_TIME_VALID = timedelta(days=7)  # how long a printed one-time password signs in
ONE_TIME_EXPIRED = (
    "Your one-time password has expired: reset your password with the link below, or ask an "
    "administrator for a new one"
)
SIGN_IN_FORM = "sign-in form"  # the actor of a failed sign-in: nobody is known to be acting


def create_user(
    session: Session,
    email: str,
    role: str,
    client: str | None = None,
    *,
    actor: str,
    password: str | None = None,
) -> tuple[User, str]:
    """A new user with a generated one-time password (or `password`: the demo's users share
    a known one), returned once and stored hashed; `actor` (who creates it) is recorded in
    the audit log."""
    email = normalised_email(email)
    found, problems = check_new_user(session, email, role, client)
    if problems:
        raise Refused(problems)
    user = User(email=email, role=role, client=found)
    if password is None:
        password = _give_one_time_password(user)
    else:
        set_password(user, password)
    session.add(user)
    session.flush()
    record(session, actor, "user create", user.email, role=role, client=client)
    return user, password


@dataclass(frozen=True)
class UserRow:
    """A user as the users page lists it."""

    id: int
    email: str
    role: str
    client: str | None  # its client council's code
    active: bool
    last_signed_in_at: datetime | None
    status: UserStatus


def status_of(user: User) -> UserStatus:
    """Where the user stands: disabled, invited (never signed in, no password chosen),
    signed in with a one-time password not yet changed, or active."""
    if not user.active:
        return UserStatus.DISABLED
    if user.one_time_until is None:
        return UserStatus.ACTIVE
    return UserStatus.INVITED if user.last_signed_in_at is None else UserStatus.ONE_TIME


def user_rows(session: Session) -> list[UserRow]:
    """Every user, by e-mail."""
    found = session.scalars(select(User).options(selectinload(User.client)).order_by(User.email))
    return [
        UserRow(
            id=u.id,
            email=u.email,
            role=u.role,
            client=u.client.code if u.client else None,
            active=u.active,
            last_signed_in_at=u.last_signed_in_at,
            status=status_of(u),
        )
        for u in found
    ]


def check_new_user(
    session: Session, email: str, role: str, client: str | None
) -> tuple[Client | None, list[Problem | str]]:
    """What would stop a user being created (nothing is written), and its client council."""
    email = normalised_email(email)
    problems: list[Problem | str] = []
    if not _EMAIL.match(email):
        problems.append(f"'{email}' is not an e-mail address")
    found, role_problems = _role_client(session, role, client)
    problems += role_problems
    if found_user(session, email) is not None:
        problems.append(f"there is already a user {email}")
    return found, problems


def list_users(session: Session) -> list[dict[str, Any]]:
    """Every user, by e-mail: `email`, `role`, `client` (its code, or None), `active`, as
    `users list --json` prints them (docs/CONTRACT.md section 2)."""
    return [
        {"email": u.email, "role": u.role, "client": u.client, "active": u.active}
        for u in user_rows(session)
    ]


def reset_password(session: Session, email: str, *, actor: str) -> tuple[User, str]:
    """Give the user a new one-time password, returned once, and end its sessions."""
    user = existing_user(session, email)
    password = _give_one_time_password(user)
    user.end_sessions()
    record(session, actor, "user reset", user.email)
    return user, password


def change_role(
    session: Session, email: str, role: str, client: str | None = None, *, actor: str
) -> User:
    """Give the user another role (and client, for a client user), and end its sessions."""
    user = existing_user(session, email)
    found, problems = _role_client(session, role, client)
    if problems:
        raise Refused(problems)
    user.role, user.client = role, found
    user.end_sessions()
    record(session, actor, "user role", user.email, role=role, client=client)
    return user


def set_active(session: Session, email: str, active: bool, *, actor: str) -> User:
    """Let the user sign in (and use its API tokens) again, or stop it; either way its
    sessions end, so that enabling a user does not revive a session from before."""
    user = existing_user(session, email)
    user.active = active
    user.end_sessions()
    record(session, actor, f"user {'enable' if active else 'disable'}", user.email)
    return user


def found_user(session: Session, email: str) -> User | None:
    """The user with this e-mail address (in any case), or None."""
    return session.scalars(select(User).where(User.email == normalised_email(email))).one_or_none()


def existing_user(session: Session, email: str) -> User:
    """The user with this e-mail address; refused if there is none."""
    user = found_user(session, email)
    if user is None:
        raise Refused(f"there is no user {email}")
    return user


def _role_client(
    session: Session, role: str, client: str | None
) -> tuple[Client | None, list[Problem | str]]:
    """The client a user of `role` is bound to, and what is wrong with the pair."""
    problems: list[Problem | str] = []
    found = None
    if role not in tuple(Role):
        problems.append(f"unknown role '{role}': use one of {', '.join(Role)}")
    if role == Role.CLIENT:
        if not client:
            problems.append(Problem("a client user needs its client council", code=CLIENT_NEEDED))
        else:
            found = session.scalars(
                select(Client).where(Client.code == client.upper())
            ).one_or_none()
            if found is None:
                problems.append(f"unknown client '{client}'")
    elif client:
        problems.append(f"only client users are bound to a client, not {role} users")
    return found, problems


def _give_one_time_password(user: User) -> str:
    """Give the user a new one-time password, good for ONE_TIME_VALID, and return it."""
    password = secrets.token_urlsafe(12)
    user.password_hash = _hasher.hash(password)
    user.one_time_until = utcnow() + ONE_TIME_VALID
    return password


def set_password(user: User, password: str) -> None:
    """Make `password` the user's own (no longer a one-time) password, stored hashed."""
    user.password_hash = _hasher.hash(password)
    user.one_time_until = None


def password_matches(user: User | None, password: str) -> bool:
    """Whether `password` is the user's; as slow for no user as for one."""
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return user is not None


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None."""
    user = found_user(session, email)
    return user if password_matches(user, password) and user and user.active else None


@dataclass(frozen=True)
class SignIn:
    """What a sign-in came to: the user signed in, or why not (`refusal`, for the form)."""

    user: User | None
    refusal: str | None = None

    @property
    def one_time(self) -> bool:
        """Whether the user signed in with a one-time password, to be changed now."""
        return self.user is not None and self.user.one_time_until is not None


def sign_in(session: Session, email: str, password: str, address: str) -> SignIn:
    """Check a sign-in and record it in the audit log, success or failure (with the e-mail
    tried, never the password); a signed-in user's session is opened. A one-time password
    signs in until its time is up, and is refused after."""
    email = normalised_email(email)[:254]
    user = authenticate(session, email, password)
    if user is None:
        record(session, SIGN_IN_FORM, "sign in failed", email, address=address)
        return SignIn(None)
    if user.one_time_until is not None and user.one_time_until <= utcnow():
        record(session, SIGN_IN_FORM, "sign in failed", email, address=address, expired=True)
        return SignIn(None, ONE_TIME_EXPIRED)
    user.last_signed_in_at = utcnow()
    open_session(session, user)
    record(session, user.email, "sign in", user.email, address=address)
    return SignIn(user)


def sign_out(session: Session, user_id: int) -> None:
    """End every session of the user, and record that it signed out."""
    user = session.get(User, user_id)
    if user is not None:
        user.end_sessions()
        record(session, user.email, "sign out", user.email)


def renew_session(session: Session, user: User) -> None:
    """Give the user a new session token: its other sessions end, and the caller's carries on
    under the new token (after the user changes its own password)."""
    user.session_token = secrets.token_urlsafe(32)
    session.flush()


def open_session(session: Session, user: User) -> None:
    """Give the user a session token if it has none: a new session carries the user's token.

    The token is set only where there is none, in one statement, so that two browsers
    signing in at once agree on it (the second waits for the first and keeps its token)."""
    session.execute(
        update(User)
        .where(User.id == user.id, User.session_token.is_(None))
        .values(session_token=secrets.token_urlsafe(32)),
        execution_options={"synchronize_session": False},
    )
    session.refresh(user, ["session_token"])


def normalised_email(email: str) -> str:
    """An e-mail address as users are stored and looked up."""
    return email.strip().lower()


def digest(token: str) -> str:
    """What is stored of a token: its SHA-256 hash, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, email: str, *, actor: str) -> tuple[int, str]:
    """A new API token for the user: its id and the token, returned once; only a hash is kept."""
    user = existing_user(session, email)
    token = secrets.token_urlsafe(32)
    stored = ApiToken(user_id=user.id, token_hash=digest(token))
    session.add(stored)
    session.flush()
    record(session, actor, "token create", email, token=stored.id)
    return stored.id, token


def user_for_token(session: Session, token: str) -> User | None:
    """The active user holding this unrevoked token, or None."""
    found = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == digest(token), ApiToken.revoked_at.is_(None))
    ).one_or_none()
    if found is None or not found.user.active:
        return None
    return found.user


def revoke_token(session: Session, token_id: int, *, actor: str) -> None:
    """Stop a token working; the record of it stays."""
    found = session.get(ApiToken, token_id)
    if found is None:
        raise Refused(f"there is no token {token_id}")
    if found.revoked_at is None:
        found.revoked_at = utcnow()
    record(session, actor, "token revoke", f"token {token_id}")
