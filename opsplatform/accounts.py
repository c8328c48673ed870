"""Users, passwords, sessions and API tokens: argon2 password hashes, tokens stored as SHA-256
hashes, one session token per user that ends all its sessions when cleared."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from opsplatform.audit import record
from opsplatform.db import utcnow
from opsplatform.errors import CLIENT_NEEDED, Problem, Refused
from opsplatform.models import ApiToken, Client, User
from opsplatform.vocabulary import Role

_hasher = PasswordHasher()
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Checked against when the e-mail is unknown, so that sign-in takes as long either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


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
    problems: list[Problem | str] = []
    if not _EMAIL.match(email):
        problems.append(f"'{email}' is not an e-mail address")
    found, role_problems = _role_client(session, role, client)
    problems += role_problems
    if session.scalars(select(User.id).where(User.email == email)).first() is not None:
        problems.append(f"there is already a user {email}")
    if problems:
        raise Refused(problems)
    if password is None:
        password, password_hash = _new_password()
    else:
        password_hash = _hasher.hash(password)
    user = User(email=email, password_hash=password_hash, role=role, client=found)
    session.add(user)
    session.flush()
    record(session, actor, "user create", user.email, role=role, client=client)
    return user, password


def list_users(session: Session) -> list[dict[str, Any]]:
    """Every user, by e-mail: `email`, `role`, `client` (its code, or None), `active`."""
    found = session.scalars(select(User).options(selectinload(User.client)).order_by(User.email))
    return [
        {
            "email": u.email,
            "role": u.role,
            "client": u.client.code if u.client else None,
            "active": u.active,
        }
        for u in found
    ]


def reset_password(session: Session, email: str, *, actor: str) -> tuple[User, str]:
    """Give the user a new one-time password, returned once, and end its sessions."""
    user = _user(session, email)
    password, user.password_hash = _new_password()
    user.end_sessions()
    record(session, actor, "user reset", user.email)
    return user, password


def change_role(
    session: Session, email: str, role: str, client: str | None = None, *, actor: str
) -> User:
    """Give the user another role (and client, for a client user), and end its sessions."""
    user = _user(session, email)
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
    user = _user(session, email)
    user.active = active
    user.end_sessions()
    record(session, actor, f"user {'enable' if active else 'disable'}", user.email)
    return user


def _found(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == normalised_email(email))).one_or_none()


def _user(session: Session, email: str) -> User:
    user = _found(session, email)
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


def _new_password() -> tuple[str, str]:
    """A one-time password and its hash."""
    password = secrets.token_urlsafe(12)
    return password, _hasher.hash(password)


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None."""
    user = _found(session, email)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user if user is not None and user.active else None


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


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, email: str, *, actor: str) -> tuple[int, str]:
    """A new API token for the user: its id and the token, returned once; only a hash is kept."""
    user = _user(session, email)
    token = secrets.token_urlsafe(32)
    stored = ApiToken(user_id=user.id, token_hash=_digest(token))
    session.add(stored)
    session.flush()
    record(session, actor, "token create", email, token=stored.id)
    return stored.id, token


def user_for_token(session: Session, token: str) -> User | None:
    """The active user holding this unrevoked token, or None."""
    found = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
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
