"""Pages for people: sign-in, dashboard, statements (login required, roles enforced).

A session ends when its user signs out anywhere (or is reset, changes role or is disabled:
see opsplatform.accounts), after SESSION_IDLE_TIMEOUT without a request, or
PERMANENT_SESSION_LIFETIME after signing in; the session records when those two clocks
started, and every request checks them and the user's session token.
"""

from __future__ import annotations

import hmac
import math
import time
from dataclasses import replace
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from billing.statements import (
    StatementFilter,
    charges_vat,
    count_statements,
    issued_on,
    statement_months,
    statements_page,
    vat_by_rate,
)
from opsplatform.accounts import normalised_email, sign_in, sign_out
from opsplatform.entrypoints.access import (
    confined_to,
    signed_in,
    statement_for,
    statement_workbook,
)
from opsplatform.entrypoints.extensions import database, login_manager, throttle
from opsplatform.entrypoints.formats import requested_page, workbook_download
from opsplatform.entrypoints.web.cycle import waiting_for
from opsplatform.models import Client, User
from opsplatform.periods import Month, PeriodError
from opsplatform.settings import centre_settings
from opsplatform.throttle import ACCOUNT, ADDRESS
from opsplatform.vocabulary import StatementStatus

web = Blueprint("web", __name__)


class LoginForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


# the session's clocks, in Unix seconds
SIGNED_IN_AT = "signed_in_at"
SEEN_AT = "seen_at"


@login_manager.user_loader
def signed_in_user(session_id: str) -> User | None:
    """The session's user, unless the session has ended; an ended session is emptied."""
    user_id, _, token = session_id.partition(":")
    now = int(time.time())
    started, seen = session.get(SIGNED_IN_AT), session.get(SEEN_AT)
    user = None
    if (
        user_id.isdigit()
        and started is not None
        and seen is not None
        and now - seen <= current_app.config["SESSION_IDLE_TIMEOUT"].total_seconds()
        and now - started <= current_app.permanent_session_lifetime.total_seconds()
    ):
        with database().transaction() as db:
            user = db.get(User, int(user_id), options=[selectinload(User.client)])
    if (
        user is None
        or not user.active
        or user.session_token is None
        or not hmac.compare_digest(user.session_token, token)
    ):
        session.clear()
        return None
    session[SEEN_AT] = now
    return user


def local_path(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None: it must start with one `/` and
    name no scheme or host (not `//host`, `/\\host` or `https:...`), so that a link to the
    sign-in page cannot send anyone elsewhere after signing in."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or not target.isprintable():
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


@login_manager.unauthorized_handler
def sign_in_first() -> ResponseReturnValue:
    """Someone not signed in asks for a page: to the sign-in page, which brings them back to
    it (with its query) afterwards; a form sent without a session is not sent again."""
    if request.method != "GET":
        return redirect(url_for("web.login"))
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("web.login", next=target))


@web.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Sign in, throttled per account and per address (see opsplatform.throttle), then go
    to `?next=` if it is a path on this site, else Home; a one-time password is changed
    first (the change-password page goes on to `?next=` after)."""
    form = LoginForm()
    after = local_path(request.args.get("next"))
    if not form.validate_on_submit():
        error = "Enter your email address and password" if request.method == "POST" else None
        page = render_template("login.html", form=form, error=error, after=after)
        return page, 401 if error else 200
    given, password = form.email.data, form.password.data
    assert given is not None and password is not None  # both DataRequired, and the form is valid
    email = normalised_email(given)
    address = request.remote_addr or ""
    with database().transaction() as db:
        wait = throttle().locked(db, ADDRESS, address) or throttle().attempt(db, ACCOUNT, email)
    if wait:
        minutes = math.ceil(wait / 60)
        unit = "minute" if minutes == 1 else "minutes"
        error = f"Too many failed sign-ins: try again in {minutes} {unit}"
        page = render_template("login.html", form=form, error=error, after=after)
        return page, 429, {"Retry-After": str(wait)}
    with database().transaction() as db:
        attempt = sign_in(db, email, password, address)
        if attempt.user is None:
            throttle().failed(db, ADDRESS, address)
        else:
            throttle().forget(db, ACCOUNT, email)
    if attempt.user is None:
        error = attempt.refusal or "Enter a correct email address and password"
        return render_template("login.html", form=form, error=error, after=after), 401
    session.clear()  # a new session: nothing carries over, the CSRF token included
    login_user(attempt.user)
    session[SIGNED_IN_AT] = session[SEEN_AT] = int(time.time())
    if attempt.one_time:
        return redirect(url_for("account.change_password", next=after))
    return redirect(after or url_for("web.home"))


@web.post("/logout")
@signed_in()
def logout() -> ResponseReturnValue:
    """Sign out: every session of the user ends, in this browser and any other."""
    with database().transaction() as db:
        sign_out(db, current_user.id)
    logout_user()
    session.clear()
    return redirect(url_for("web.login"))


@web.get("/")
@signed_in()
def home() -> ResponseReturnValue:
    with database().reading() as session:
        # a few of the latest drafts and issued statements: never every statement there is
        own = confined_to(current_user)
        drafts = StatementFilter(client_id=own, status="draft")
        issued = StatementFilter(client_id=own, status="issued")
        return render_template(
            "home.html",
            drafts=statements_page(session, drafts, 0, HOME_STATEMENTS),
            draft_count=count_statements(session, drafts),
            recent=statements_page(session, issued, 0, HOME_STATEMENTS),
            waiting=waiting_for(session, current_user),
        )


STATEMENTS_PER_PAGE = 25
HOME_STATEMENTS = 12  # the latest drafts and issued statements the home page lists


@web.get("/statements")
@signed_in()
def statements() -> ResponseReturnValue:
    """Statements filtered by month, client and status (GET parameters), a page at a time;
    a client user's own council's only."""
    with database().reading() as session:
        own = confined_to(current_user)
        clients = (
            None if own is not None else list(session.scalars(select(Client).order_by(Client.name)))
        )
        wanted, errors = _statement_filter(clients)
        if own is not None:
            wanted = replace(wanted, client_id=own)
        months = statement_months(session, own)
        count = 0 if errors else count_statements(session, wanted)
        paging = requested_page(count, STATEMENTS_PER_PAGE)
        found = [] if errors else statements_page(session, wanted, paging.offset, paging.size)
        page = render_template(
            "statements.html",
            statements=[(s, issued_on(s)) for s in found],
            paging=paging,
            months=months,
            clients=clients,
            statuses=list(StatementStatus),
            chosen={k: v for k in ("month", "client", "status") if (v := request.args.get(k))},
            errors=errors,
        )
        return page, 400 if errors else 200


def _statement_filter(
    clients: list[Client] | None,
) -> tuple[StatementFilter, list[tuple[str, str]]]:
    """The statements list's filter from the request's GET parameters, and what is wrong
    with them (message, the field's anchor); `clients` to choose from (None: the user
    may not choose, and the client parameter is ignored)."""
    errors = []
    month = None
    if request.args.get("month"):
        try:
            month = Month.parse(request.args["month"])
        except PeriodError as error:
            errors.append((f"Month: {error}", "#month"))
    client_id = None
    if clients is not None and request.args.get("client"):
        by_code = {c.code: c.id for c in clients}
        client_id = by_code.get(request.args["client"].strip().upper())
        if client_id is None:
            errors.append(("Client: choose a client from the list", "#client"))
    status = request.args.get("status") or None
    if status is not None and status not in tuple(StatementStatus):
        errors.append(("Status: choose draft or issued", "#status"))
        status = None
    return StatementFilter(month, client_id, status), errors


@web.get("/statements/<number>")
@signed_in()
def statement(number: str) -> ResponseReturnValue:
    if number.lower().endswith(".xlsx"):
        return statement_download(number[: -len(".xlsx")])
    with database().transaction() as session:
        found = statement_for(session, current_user, number)
        if found is None:
            abort(404)
        return render_template(
            "statement.html",
            statement=found,
            month=Month.parse(found.month),
            issued_on=issued_on(found),
            vat_invoice=charges_vat(found),
            vat_bands=vat_by_rate(found),
            centre=centre_settings(session),
        )


def statement_download(number: str) -> Response:
    with database().transaction() as session:
        found = statement_workbook(session, current_user, number)
    if found is None:
        abort(404)
    content, name = found
    return workbook_download(content, name)


@web.get("/accessibility")
def accessibility() -> ResponseReturnValue:
    """The accessibility statement the 2018 regulations require, open to everyone: it must
    be found before signing in as well as after."""
    with database().transaction() as session:
        return render_template("accessibility.html", centre=centre_settings(session))
