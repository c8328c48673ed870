"""Pages for people: sign-in, dashboard, statements (login required, roles enforced)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from opsplatform.accounts import authenticate
from opsplatform.extensions import database, limiter
from opsplatform.periods import PeriodError
from opsplatform.views import statement_for, statement_workbook, visible_statements

web = Blueprint("web", __name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class LoginForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


def _failed_login(response) -> bool:
    return request.method == "POST" and response.status_code != 302


@web.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per 15 minutes", methods=["POST"], deduct_when=_failed_login)
def login():
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        with database().transaction() as session:
            user = authenticate(session, form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            return redirect(url_for("web.home"))
        error = "Enter a correct email address and password"
    elif request.method == "POST":
        error = "Enter your email address and password"
    status = 401 if error else 200
    return render_template("login.html", form=form, error=error), status


@web.post("/logout")
@login_required
def logout():
    logout_user()
    return redirect(url_for("web.login"))


@web.get("/")
@login_required
def home():
    with database().transaction() as session:
        statements = visible_statements(session, current_user)
        drafts = [s for s in statements if s.status == "draft"]
        recent = [s for s in statements if s.status == "issued"][-12:][::-1]
        return render_template("home.html", drafts=drafts, recent=recent)


@web.get("/statements")
@login_required
def statements():
    month = request.args.get("month") or None
    with database().transaction() as session:
        try:
            found = visible_statements(session, current_user, month)
        except PeriodError as error:
            return render_template("statements.html", statements=[], error=str(error)), 400
        return render_template("statements.html", statements=found[::-1], error=None)


@web.get("/statements/<number>")
@login_required
def statement(number: str):
    if number.lower().endswith(".xlsx"):
        return statement_download(number[: -len(".xlsx")])
    with database().transaction() as session:
        found = statement_for(session, current_user, number)
        if found is None:
            abort(404)
        return render_template("statement.html", statement=found)


def statement_download(number: str):
    with database().transaction() as session:
        found = statement_workbook(session, current_user, number)
    if found is None:
        abort(404)
    content, name = found
    return send_file(content, as_attachment=True, download_name=name, mimetype=XLSX)
