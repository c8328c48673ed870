"""WSGI entry point: `gunicorn wsgi:app`."""

from opsplatform.app import create_app

app = create_app()
