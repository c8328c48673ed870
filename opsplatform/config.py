"""Configuration: every `OPSPLATFORM_*` environment variable the product reads is read here,
with safe embedded defaults. docs/DEPLOYMENT.md has the one table of them all.

`load_config` reads the web app's settings once, when the app is made (`create_app` also
takes a `Config` handed in). `load_mail` reads how e-mail goes out where a message is
written or the outbox delivered (a command, a scheduler tick), so that the scheduler and
the commands need no app to send mail. gunicorn's own settings (`OPSPLATFORM_BIND`,
`OPSPLATFORM_WORKERS`, `OPSPLATFORM_TIMEOUT`, `OPSPLATFORM_FORWARDED_ALLOW_IPS`) are read
by gunicorn.conf.py, which gunicorn loads before the app.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path


@dataclass(frozen=True)
class Config:
    """The web app's settings."""

    instance_path: Path
    database_url: str
    secret_key: str
    https: bool
    trusted_proxies: int
    session_idle: timedelta
    session_lifetime: timedelta


def load_config(default_instance_path: str | os.PathLike[str]) -> Config:
    """Read the environment; create the instance folder and secret key when needed."""
    instance = Path(os.environ.get("OPSPLATFORM_INSTANCE_PATH") or default_instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    url = os.environ.get("OPSPLATFORM_DATABASE_URL") or (
        f"sqlite:///{(instance / 'opsplatform.sqlite3').resolve()}"
    )
    secret = os.environ.get("OPSPLATFORM_SECRET_KEY") or _persisted_secret(instance / "secret_key")
    return Config(
        instance_path=instance,
        database_url=url,
        secret_key=secret,
        https=_switch("OPSPLATFORM_HTTPS"),
        trusted_proxies=_whole_number("OPSPLATFORM_TRUSTED_PROXIES", 0, least=0),
        session_idle=timedelta(minutes=_whole_number("OPSPLATFORM_SESSION_IDLE_MINUTES", 30)),
        session_lifetime=timedelta(hours=_whole_number("OPSPLATFORM_SESSION_HOURS", 12)),
    )


@dataclass(frozen=True)
class Smtp:
    """The mail server the outbox is delivered to."""

    host: str
    port: int
    starttls: bool
    username: str | None
    password: str | None


@dataclass(frozen=True)
class Mail:
    """How e-mail goes out: the server (None: nothing is sent, messages wait in the outbox),
    the sender's address, and the web app's address that links in messages start with."""

    smtp: Smtp | None
    sender: str
    base_url: str


def load_mail() -> Mail:
    """Read the mail settings from the environment."""
    host = os.environ.get("OPSPLATFORM_SMTP_HOST")
    smtp = None
    if host:
        starttls = _switch("OPSPLATFORM_SMTP_STARTTLS")
        smtp = Smtp(
            host=host,
            port=int(os.environ.get("OPSPLATFORM_SMTP_PORT") or (587 if starttls else 25)),
            starttls=starttls,
            username=os.environ.get("OPSPLATFORM_SMTP_USERNAME") or None,
            password=os.environ.get("OPSPLATFORM_SMTP_PASSWORD") or None,
        )
    return Mail(
        smtp=smtp,
        sender=os.environ.get("OPSPLATFORM_MAIL_FROM") or "opsplatform@localhost",
        base_url=os.environ.get("OPSPLATFORM_BASE_URL", "").rstrip("/"),
    )


def _switch(name: str) -> bool:
    """An environment variable that is on when it says `1`, `true` or `yes`."""
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def _whole_number(name: str, default: int, least: int = 1) -> int:
    """An environment variable holding a whole number of at least `least`, or `default`."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) < least:
        raise ValueError(f"{name} must be a whole number of at least {least}, not {value!r}")
    return int(value)


def _persisted_secret(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
