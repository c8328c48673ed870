"""Pages: one's own password. Changing it (everyone signed in; first of all after signing in
with a one-time password), asking for a reset link when it is forgotten, and choosing a
password by an e-mailed link (a reset or an invitation; opsplatform.passwords).

The forgotten-password form answers the same whether or not the address has an account,
and is throttled per address typed and per client address like the sign-in form.
"""

from __future__ import annotations

import math

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user

from opsplatform.accounts import normalised_email
from opsplatform.entrypoints.access import signed_in
from opsplatform.entrypoints.extensions import database, throttle
from opsplatform.entrypoints.web import local_path
from opsplatform.errors import Problem, Refused
from opsplatform.passwords import LINK_GONE, MIN_LENGTH, forgotten, link_for, set_by_link
from opsplatform.passwords import change_password as change_own_password
from opsplatform.throttle import ACCOUNT, RESET_ACCOUNT, RESET_ADDRESS

account = Blueprint("account", __name__)


def field_errors(problems: list[Problem], first: str) -> list[tuple[str, str]]:
    """A refusal's problems as the error summary lists them: (message, `#field`), a problem
    without a field pointing at `first`."""
    return [(p.message, f"#{p.column or first}") for p in problems]


def _form_page(template: str, errors: list[tuple[str, str]], **values: object) -> tuple[str, int]:
    """A form page, with its errors by field; 400 when there are any."""
    by_field = {href[1:]: text for text, href in reversed(errors)}
    page = render_template(
        template, errors=errors, field_errors=by_field, min_length=MIN_LENGTH, **values
    )
    return page, 400 if errors else 200


@account.route("/account/password", methods=["GET", "POST"])
@signed_in()
def change_password() -> ResponseReturnValue:
    """Change one's own password: the current one, then the new one twice. Other sessions
    end; this one carries on. Then on to `?next=` (a path on this site), else Home."""
    after = local_path(request.args.get("next"))
    if request.method == "GET":
        return _form_page("account/change_password.html", [], after=after)
    form = {name: request.form.get(name, "") for name in ("current", "password", "again")}
    try:
        with database().transaction() as db:
            user = change_own_password(
                db, current_user.id, form["current"], form["password"], form["again"]
            )
    except Refused as refusal:
        errors = field_errors(refusal.problems, "current")
        return _form_page("account/change_password.html", errors, after=after)
    login_user(user)  # the session now carries the user's new session token
    return redirect(url_for("account.password_changed", next=after))


@account.get("/account/password/changed")
@signed_in()
def password_changed() -> ResponseReturnValue:
    """Say the password is changed, and go on to `?next=` (a path on this site) or Home."""
    after = local_path(request.args.get("next")) or url_for("web.home")
    return render_template("account/password_changed.html", after=after)


@account.route("/password/forgot", methods=["GET", "POST"])
def forgot() -> ResponseReturnValue:
    """Ask for a link to reset a forgotten password. The answer never says whether the
    address has an account."""
    if request.method == "GET":
        return _form_page("account/forgot.html", [], email="")
    email = normalised_email(request.form.get("email", ""))
    if not email:
        return _form_page("account/forgot.html", [("Enter your email address", "#email")], email="")
    address = request.remote_addr or ""
    with database().transaction() as db:
        wait = throttle().attempt(db, RESET_ADDRESS, address) or throttle().attempt(
            db, RESET_ACCOUNT, email
        )
        if not wait:
            forgotten(db, email)
    if wait:
        minutes = math.ceil(wait / 60)
        error = f"Too many requests for a link: try again in {minutes} minute{'s' * (minutes > 1)}"
        page, _status = _form_page("account/forgot.html", [(error, "#email")], email=email)
        return page, 429, {"Retry-After": str(wait)}
    return render_template("account/forgot_sent.html", email=email)


@account.route("/password/<token>", methods=["GET", "POST"])
def choose_password(token: str) -> ResponseReturnValue:
    """Choose a password by an e-mailed link (an invitation or a reset): once, before it
    expires. Every session of the user ends; it then signs in with the new password."""
    with database().reading() as db:
        found = link_for(db, token)
        purpose, email = (found.purpose, found.user.email) if found else (None, None)
    if found is None:
        return render_template("account/link_gone.html", message=LINK_GONE), 410
    if request.method == "GET":
        return _form_page("account/choose_password.html", [], purpose=purpose, email=email)
    try:
        with database().transaction() as db:
            user = set_by_link(
                db, token, request.form.get("password", ""), request.form.get("again", "")
            )
            throttle().forget(db, ACCOUNT, user.email)
    except Refused as refusal:
        if refusal.problems[0].message == LINK_GONE:  # used or expired since the form was shown
            return render_template("account/link_gone.html", message=LINK_GONE), 410
        errors = field_errors(refusal.problems, "password")
        return _form_page("account/choose_password.html", errors, purpose=purpose, email=email)
    logout_user()
    session.clear()
    flash("Your password is set: sign in with it", "success")
    return redirect(url_for("web.login"))
