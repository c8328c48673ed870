"""WSGI entry point: `gunicorn wsgi:app`."""

from opsplatform.entrypoints.app import create_app

app = create_app()
