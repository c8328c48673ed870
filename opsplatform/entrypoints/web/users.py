"""Pages: the users, for administrators only. List them, invite one, change a user's role,
disable or enable it, send it an invitation again or a password reset link.

Every change is shown on a check page first, saying exactly what will happen, and made
only when the administrator confirms it; the business actions are those of the command
line (opsplatform.accounts, opsplatform.passwords), which record themselves in the audit
log. An administrator cannot disable itself or change its own role here, so that the
centre is never left without one by a slip.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from opsplatform.accounts import change_role, check_new_user, set_active, status_of, user_rows
from opsplatform.entrypoints.access import signed_in
from opsplatform.entrypoints.extensions import database
from opsplatform.errors import CLIENT_NEEDED, Problem, Refused
from opsplatform.models import Client, User
from opsplatform.passwords import INVITATION, INVITATION_VALID, RESET_VALID, invite_user, send_link
from opsplatform.vocabulary import Role

users = Blueprint("users", __name__)

CONFIRMED = "confirmed"  # the check page's button sends this, and the change is made
ROLE_HINTS = {
    Role.ADMIN: "Everything, and manages users",
    Role.MANAGER: "Every council's figures; writes KPI commentary and changes KPI targets",
    Role.FINANCE: "Imports usage and setup, closes and issues statements, answers queries",
    Role.CLIENT: "One client council's statements, queries and results",
    Role.AUDITOR: "Reads everything, the audit log included; changes nothing",
}


@users.context_processor
def words() -> dict[str, object]:
    """What the users pages' templates read: the roles, with what each may do."""
    return {"Role": Role, "ROLE_HINTS": ROLE_HINTS}


def _clients(session: Session) -> list[tuple[str, str]]:
    """Every client council's code and name, for the client field."""
    found = session.execute(select(Client.code, Client.name).order_by(Client.name))
    return [(code, name) for code, name in found]


def _hours(delta: timedelta) -> str:
    """`1 hour`, `2 hours`: how long a reset link works, as its e-mail says."""
    hours = int(delta.total_seconds() // 3600)
    return f"{hours} hour{'s' * (hours != 1)}"


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id, options=[selectinload(User.client)])
    if user is None:
        abort(404)
    return user


def _role_form() -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The role and client fields as sent, and what is missing from them; the client is
    kept only for the client role."""
    form = {name: request.form.get(name, "").strip() for name in ("email", "role", "client")}
    if form["role"] != Role.CLIENT:
        form["client"] = ""
    errors = []
    if form["role"] not in tuple(Role):
        errors.append(("Select a role", "#role"))
    elif form["role"] == Role.CLIENT and not form["client"]:
        errors.append(("Select the client council this user belongs to", "#client"))
    return form, errors


def _refusal_errors(problems: list[Problem | str] | list[Problem]) -> list[tuple[str, str]]:
    """The domain's refusals, each next to the field it is about (the e-mail address unless
    it is the client council)."""
    found = [p if isinstance(p, Problem) else Problem(p) for p in problems]
    return [
        (p.message[:1].upper() + p.message[1:], "#client" if p.code == CLIENT_NEEDED else "#email")
        for p in found
    ]


@users.get("/users")
@signed_in(Role.ADMIN)
def user_list() -> ResponseReturnValue:
    with database().reading() as session:
        return render_template("users/list.html", rows=user_rows(session))


@users.route("/users/invite", methods=["GET", "POST"])
@signed_in(Role.ADMIN)
def invite() -> ResponseReturnValue:
    """Invite a user: the form, then the check page, then the invitation is sent."""
    with database().transaction() as session:
        clients = _clients(session)
        if request.method == "GET":
            form = {"email": "", "role": "", "client": ""}
            return render_template("users/invite.html", form=form, errors=[], clients=clients)
        form, errors = _role_form()
        if not form["email"]:
            errors.insert(0, ("Enter the new user's email address", "#email"))
        if not errors:
            _found, problems = check_new_user(
                session, form["email"], form["role"], form["client"] or None
            )
            errors = _refusal_errors(problems)
        if errors:
            page = render_template("users/invite.html", form=form, errors=errors, clients=clients)
            return page, 400
        if request.form.get(CONFIRMED) != "yes":
            client_name = dict(clients).get(form["client"])
            return render_template(
                "users/invite_check.html",
                form=form,
                client_name=client_name,
                valid_days=INVITATION_VALID.days,
            )
        user = invite_user(
            session, form["email"], form["role"], form["client"] or None, actor=current_user.email
        )
        user_id, email = user.id, user.email
    flash(f"An invitation was sent to {email}", "success")
    return redirect(url_for("users.user_page", user_id=user_id))


@users.get("/users/<int:user_id>")
@signed_in(Role.ADMIN)
def user_page(user_id: int) -> ResponseReturnValue:
    with database().reading() as session:
        user = _user(session, user_id)
        return render_template(
            "users/user.html",
            user=user,
            status=status_of(user),
            yourself=user.id == current_user.id,
        )


@users.route("/users/<int:user_id>/role", methods=["GET", "POST"])
@signed_in(Role.ADMIN)
def role(user_id: int) -> ResponseReturnValue:
    """Change a user's role (and client council): the form, the check page, the change."""
    with database().transaction() as session:
        user = _user(session, user_id)
        if user.id == current_user.id:
            abort(403, "You cannot change your own role: ask another administrator")
        clients = _clients(session)
        if request.method == "GET":
            form = {"role": user.role, "client": user.client.code if user.client else ""}
            return render_template(
                "users/role.html", user=user, form=form, errors=[], clients=clients
            )
        form, errors = _role_form()
        if errors:
            page = render_template(
                "users/role.html", user=user, form=form, errors=errors, clients=clients
            )
            return page, 400
        if request.form.get(CONFIRMED) != "yes":
            return render_template(
                "users/role_check.html",
                user=user,
                form=form,
                client_name=dict(clients).get(form["client"]),
            )
        try:
            change_role(
                session, user.email, form["role"], form["client"] or None, actor=current_user.email
            )
        except Refused as refusal:  # a client council that does not exist, sent by hand
            session.rollback()
            errors = [(p.message, "#client") for p in refusal.problems]
            page = render_template(
                "users/role.html", user=user, form=form, errors=errors, clients=clients
            )
            return page, 400
        email = user.email
    flash(
        f"{email} is now {Role(form['role']).label.lower()}, and signed out everywhere", "success"
    )
    return redirect(url_for("users.user_page", user_id=user_id))


@users.route(
    "/users/<int:user_id>/<any(disable, enable, 'send-link'):action>", methods=["GET", "POST"]
)
@signed_in(Role.ADMIN)
def change(user_id: int, action: str) -> ResponseReturnValue:
    """Disable or enable a user, or send it a link to choose a password: the check page
    (GET), then the change (POST)."""
    with database().transaction() as session:
        user = _user(session, user_id)
        if action == "disable" and user.id == current_user.id:
            abort(403, "You cannot disable your own account: ask another administrator")
        invitation = user.last_signed_in_at is None
        if request.method == "GET":
            return render_template(
                "users/change_check.html",
                user=user,
                action=action,
                invitation=invitation,
                valid=f"{INVITATION_VALID.days} days" if invitation else _hours(RESET_VALID),
            )
        try:
            if action == "send-link":
                sent = send_link(session, user.email, actor=current_user.email)
                done = f"{'An invitation' if sent == INVITATION else 'A password reset link'} was sent to {user.email}"
            else:
                set_active(session, user.email, action == "enable", actor=current_user.email)
                done = f"{user.email} is {action}d" + (
                    "" if action == "enable" else " and signed out everywhere"
                )
        except Refused as refusal:  # sending a link to a disabled user
            abort(400, refusal.problems[0].message)
    flash(done, "success")
    return redirect(url_for("users.user_page", user_id=user_id))
