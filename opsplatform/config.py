"""Configuration from `OPSPLATFORM_*` environment variables, with safe embedded defaults.

| variable | meaning | default |
| --- | --- | --- |
| OPSPLATFORM_DATABASE_URL | SQLAlchemy URL of the database | SQLite file `opsplatform.sqlite3` in the instance folder |
| OPSPLATFORM_INSTANCE_PATH | folder for the embedded database and the generated secret key | Flask's instance folder |
| OPSPLATFORM_SECRET_KEY | key that signs sessions and keys the throttle's counts | generated once, kept in the instance folder |
| OPSPLATFORM_HTTPS | `1` behind HTTPS: Secure cookies and HSTS | off |
| OPSPLATFORM_TRUSTED_PROXIES | how many proxies in front of the app to trust for the client's address (`X-Forwarded-For`) and scheme (`X-Forwarded-Proto`) | 0: trust no such header |
| OPSPLATFORM_SESSION_IDLE_MINUTES | a session unused this long ends | 30 |
| OPSPLATFORM_SESSION_HOURS | a session ends this long after sign-in, however active | 12 |

gunicorn's own settings (`OPSPLATFORM_BIND`, `OPSPLATFORM_WORKERS`, `OPSPLATFORM_TIMEOUT`)
are read by gunicorn.conf.py; see docs/DEPLOYMENT.md.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path


@dataclass(frozen=True)
class Config:
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
        https=os.environ.get("OPSPLATFORM_HTTPS", "").lower() in ("1", "true", "yes"),
        trusted_proxies=_whole_number("OPSPLATFORM_TRUSTED_PROXIES", 0, least=0),
        session_idle=timedelta(minutes=_whole_number("OPSPLATFORM_SESSION_IDLE_MINUTES", 30)),
        session_lifetime=timedelta(hours=_whole_number("OPSPLATFORM_SESSION_HOURS", 12)),
    )


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
