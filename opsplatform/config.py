"""Configuration from `OPSPLATFORM_*` environment variables, with safe embedded defaults.

| variable | meaning | default |
| --- | --- | --- |
| OPSPLATFORM_DATABASE_URL | SQLAlchemy URL of the database | SQLite file `opsplatform.sqlite3` in the instance folder |
| OPSPLATFORM_INSTANCE_PATH | folder for the embedded database and the generated secret key | Flask's instance folder |
| OPSPLATFORM_SECRET_KEY | key that signs sessions | generated once, kept in the instance folder |
| OPSPLATFORM_HTTPS | `1` behind HTTPS: Secure cookies and HSTS | off |
| OPSPLATFORM_RATELIMIT_STORAGE_URI | where the sign-in throttle counts (shared by workers) | per process memory |

gunicorn's own settings (`OPSPLATFORM_BIND`, `OPSPLATFORM_WORKERS`, `OPSPLATFORM_TIMEOUT`)
are read by gunicorn.conf.py; see docs/DEPLOYMENT.md.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Config:
    instance_path: Path
    database_url: str
    secret_key: str


def load_config(default_instance_path: str | os.PathLike) -> Config:
    """Read the environment; create the instance folder and secret key when needed."""
    instance = Path(os.environ.get("OPSPLATFORM_INSTANCE_PATH") or default_instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    url = os.environ.get("OPSPLATFORM_DATABASE_URL") or (
        f"sqlite:///{(instance / 'opsplatform.sqlite3').resolve()}"
    )
    secret = os.environ.get("OPSPLATFORM_SECRET_KEY") or _persisted_secret(instance / "secret_key")
    return Config(instance_path=instance, database_url=url, secret_key=secret)


def _persisted_secret(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
