"""Passwords people choose: the strength rule, changing one's own, and the e-mailed links
that set one once (an invitation to a new user, a reset of a forgotten password).

A link carries a random token; only its SHA-256 hash is stored (`password_links`), so the
table gives no one a working link. A link works once, until it expires (an invitation
after INVITATION_VALID, a reset after RESET_VALID), and a newer link for the same user
replaces any older one. Setting a password by a link ends every session of the user.
Every change is recorded in the audit log; the e-mails go through the outbox
(opsplatform.notify) in the same transaction.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from opsplatform.accounts import (
    create_user,
    digest,
    existing_user,
    found_user,
    password_matches,
    renew_session,
    set_password,
)
from opsplatform.audit import record
from opsplatform.db import utcnow
from opsplatform.errors import Problem, Refused
from opsplatform.models import PasswordLink, User
from opsplatform.notify import link, queue
from opsplatform.vocabulary import Role

INVITATION, RESET = "invitation", "reset"
INVITATION_VALID = timedelta(days=7)
RESET_VALID = timedelta(hours=1)
VALID = {INVITATION: INVITATION_VALID, RESET: RESET_VALID}
MIN_LENGTH, MAX_LENGTH = 12, 128
LINK_PATH = "/password/"  # the page a link's token is appended to
LINK_GONE = "This link has expired or has already been used"


def password_problems(user: User, password: str, again: str) -> list[Problem]:
    """What is wrong with `password` as `user`'s new password, typed twice (`again`).

    Length is the rule (NCSC guidance: no rules about kinds of character, which only make
    passwords harder to remember); the e-mail address is refused as too easy to guess."""
    problems = []
    if not password:
        problems.append(Problem("Enter a new password", column="password"))
    elif len(password) < MIN_LENGTH:
        problems.append(
            Problem(f"Your password must be at least {MIN_LENGTH} characters", column="password")
        )
    elif len(password) > MAX_LENGTH:
        problems.append(
            Problem(f"Your password must be {MAX_LENGTH} characters or fewer", column="password")
        )
    elif user.email in password.lower():
        problems.append(
            Problem("Your password must not contain your email address", column="password")
        )
    if password and password != again:
        problems.append(Problem("The passwords do not match", column="again"))
    return problems


def change_password(session: Session, user_id: int, current: str, new: str, again: str) -> User:
    """The signed-in user changes its own password: the current one is checked, the new one
    must pass the strength rule. Its other sessions end; the caller's carries on under the
    user's new session token."""
    user = session.get(User, user_id)
    if user is None:
        raise Refused("there is no such user")
    problems = []
    if not password_matches(user, current):
        problems.append(Problem("Your current password is not right", column="current"))
    problems += password_problems(user, new, again)
    if not problems and new == current:
        problems.append(
            Problem("Your new password must differ from your current one", column="password")
        )
    if problems:
        raise Refused(problems)
    was_one_time = user.one_time_until is not None
    set_password(user, new)
    renew_session(session, user)
    record(session, user.email, "password change", user.email, one_time=was_one_time)
    return user


# -- links ---------------------------------------------------------------------------------


def _send_link(session: Session, user: User, purpose: str) -> None:
    """Make a new link for the user, replacing any it has not used, and e-mail it."""
    now = utcnow()
    session.execute(
        update(PasswordLink)
        .where(PasswordLink.user_id == user.id, PasswordLink.used_at.is_(None))
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordLink(
            user_id=user.id,
            purpose=purpose,
            token_hash=digest(token),
            created_at=now,
            expires_at=now + VALID[purpose],
        )
    )
    address = link(LINK_PATH + token)
    if purpose == INVITATION:
        subject = "You have been invited to opsplatform"
        body = (
            f"An account has been made for you on opsplatform, as {Role(user.role).label.lower()}"
            f".\n\nChoose your password within 7 days by following this link:\n\n{address}\n\n"
            "The link works once. When it has expired, ask the administrator who invited you "
            "for a new one."
        )
    else:
        subject = "Reset your opsplatform password"
        body = (
            "Someone asked to reset the password of your opsplatform account. Choose a new "
            f"password within 1 hour by following this link:\n\n{address}\n\n"
            "The link works once. If you did not ask for it, ignore this message: your "
            "password has not changed."
        )
    queue(session, f"password {purpose}", [user.email], subject, body)


def invite_user(
    session: Session, email: str, role: str, client: str | None = None, *, actor: str
) -> User:
    """Create a user (refused as `users create` refuses) and e-mail it an invitation to
    choose its password. Its generated one-time password is never shown to anyone."""
    user, _unshown = create_user(session, email, role, client, actor=actor)
    _send_link(session, user, INVITATION)
    record(session, actor, "user invite", user.email)
    return user


def send_link(session: Session, email: str, *, actor: str) -> str:
    """An administrator sends the user a link to choose a password: an invitation again to
    a user who has never signed in, a reset to one who has. Returns which was sent."""
    user = existing_user(session, email)
    if not user.active:
        raise Refused(f"{user.email} is disabled: enable it first")
    purpose = INVITATION if user.last_signed_in_at is None else RESET
    _send_link(session, user, purpose)
    record(session, actor, f"user {purpose} sent", user.email)
    return purpose


def forgotten(session: Session, email: str) -> None:
    """Someone says it forgot the password of `email`: an active user is e-mailed a reset
    link; anyone else, nothing. The caller answers the same either way."""
    user = found_user(session, email)
    if user is not None and user.active:
        _send_link(session, user, RESET)
        record(session, user.email, "password reset sent", user.email)


def link_for(session: Session, token: str) -> PasswordLink | None:
    """The unused, unexpired link with this token (and its active user), or None."""
    found = session.scalars(
        select(PasswordLink).where(PasswordLink.token_hash == digest(token))
    ).one_or_none()
    if found is None or found.used_at is not None or found.expires_at <= utcnow():
        return None
    return found if found.user.active else None


def set_by_link(session: Session, token: str, password: str, again: str) -> User:
    """Set a password by a link: once, before it expires. Every session of the user ends."""
    found = link_for(session, token)
    if found is None:
        raise Refused(LINK_GONE)
    user = found.user
    problems = password_problems(user, password, again)
    if problems:
        raise Refused(problems)
    set_password(user, password)
    found.used_at = utcnow()
    user.end_sessions()
    action = "password set" if found.purpose == INVITATION else "password reset"
    record(session, user.email, action, user.email, link=found.id)
    return user
