"""`opsplatform users` and `opsplatform tokens`: who signs in to the web app, and the API
tokens programs use."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from opsplatform.accounts import (
    change_role,
    create_token,
    create_user,
    list_users,
    reset_password,
    revoke_token,
    set_active,
)
from opsplatform.entrypoints.cli.common import emit, json_option, raised_by, refusals
from opsplatform.entrypoints.extensions import database, throttle
from opsplatform.passwords import INVITATION_VALID, invite_user
from opsplatform.throttle import ACCOUNT
from opsplatform.vocabulary import Role


@click.group("users", cls=AppGroup)
def users_commands() -> None:
    """People who sign in to the web app."""


@users_commands.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--client", help="The client council a client user belongs to.")
@json_option
@refusals
def users_create(email: str, role: str, client: str | None, as_json: bool) -> None:
    """Create a user and print a one-time password."""
    with database().transaction() as session:
        user, password = create_user(session, email, role, client, actor=raised_by())
        email = user.email
    if as_json:
        emit({"email": email, "password": password})
        return
    click.echo(f"user {email} ({role}) created; one-time password: {password}")


@users_commands.command("invite")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--client", help="The client council a client user belongs to.")
@json_option
@refusals
def users_invite(email: str, role: str, client: str | None, as_json: bool) -> None:
    """Create a user and e-mail it a link to choose its password; nothing secret is printed."""
    with database().transaction() as session:
        user = invite_user(session, email, role, client, actor=raised_by())
        email, code = user.email, user.client.code if user.client else None
    if as_json:
        emit({"email": email, "role": role, "client": code})
        return
    click.echo(
        f"user {email} ({role}) invited: a link to choose a password is e-mailed to it, "
        f"valid for {INVITATION_VALID.days} days"
    )


@users_commands.command("list")
@json_option
@refusals
def users_list(as_json: bool) -> None:
    """Every user: e-mail, role, client council and whether it may sign in."""
    with database().transaction() as session:
        found = list_users(session)
    if as_json:
        emit(found)
        return
    for u in found:
        state = "" if u["active"] else "  (disabled)"
        click.echo(f"{u['email']:<40} {u['role']:<8} {u['client'] or '':<12}{state}")
    click.echo(f"{len(found)} user(s)")


@users_commands.command("reset")
@click.argument("email")
@json_option
@refusals
def users_reset(email: str, as_json: bool) -> None:
    """Give EMAIL's user a new one-time password (printed once), end its sessions and lift
    any lock-out of its failed sign-ins."""
    with database().transaction() as session:
        user, password = reset_password(session, email, actor=raised_by())
        throttle().forget(session, ACCOUNT, user.email)
        email = user.email
    if as_json:
        emit({"email": email, "password": password})
        return
    click.echo(f"user {email}: signed out everywhere; new one-time password: {password}")


@users_commands.command("role")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--client", help="The client council a client user belongs to.")
@refusals
def users_role(email: str, role: str, client: str | None) -> None:
    """Give EMAIL's user another role, and end its sessions."""
    with database().transaction() as session:
        user = change_role(session, email, role, client, actor=raised_by())
        email = user.email
    click.echo(f"user {email} is now {role}; signed out everywhere")


@users_commands.command("disable")
@click.argument("email")
@refusals
def users_disable(email: str) -> None:
    """Stop EMAIL's user signing in or using its API tokens, and end its sessions."""
    _set_active(email, False)


@users_commands.command("enable")
@click.argument("email")
@refusals
def users_enable(email: str) -> None:
    """Let EMAIL's user sign in and use its API tokens again."""
    _set_active(email, True)


def _set_active(email: str, active: bool) -> None:
    action = "enable" if active else "disable"
    with database().transaction() as session:
        user = set_active(session, email, active, actor=raised_by())
        email = user.email
    click.echo(f"user {email} {action}d; signed out everywhere")


@click.group("tokens", cls=AppGroup)
def tokens_commands() -> None:
    """API tokens (bearer tokens for programs)."""


@tokens_commands.command("create")
@click.argument("email")
@json_option
@refusals
def tokens_create(email: str, as_json: bool) -> None:
    """Create an API token for EMAIL's user; it is printed once and stored hashed."""
    with database().transaction() as session:
        token_id, token = create_token(session, email, actor=raised_by())
    if as_json:
        emit({"token": token, "id": token_id})
        return
    click.echo(f"token {token_id} for {email} (shown once, keep it safe): {token}")


@tokens_commands.command("revoke")
@click.argument("token_id", type=int)
@refusals
def tokens_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID: programs using it are refused from now on."""
    with database().transaction() as session:
        revoke_token(session, token_id, actor=raised_by())
    click.echo(f"token {token_id} revoked")
