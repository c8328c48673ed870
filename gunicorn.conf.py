"""gunicorn settings for opsplatform: `gunicorn wsgi:app` picks this file up from the project
folder (or pass `-c gunicorn.conf.py`). Every value can be overridden from the environment."""

import multiprocessing
import os

bind = os.environ.get("OPSPLATFORM_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("OPSPLATFORM_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# Uploads are checked and imported within the request: allow a large file the time it needs.
timeout = int(os.environ.get("OPSPLATFORM_TIMEOUT", 300))
graceful_timeout = 30
keepalive = 5
max_requests = 2000  # recycle workers now and then; jitter keeps them from recycling together
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("OPSPLATFORM_FORWARDED_ALLOW_IPS", "127.0.0.1")
