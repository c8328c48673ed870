"""gunicorn settings for opsplatform: `gunicorn wsgi:app` picks this file up from the project
folder (or pass `-c gunicorn.conf.py`). Every value can be overridden from the environment."""

import multiprocessing
import os

bind = os.environ.get("OPSPLATFORM_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("OPSPLATFORM_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# A request may carry a large upload over a slow line; the check and the import themselves
# run as background jobs in the worker, so workers are not recycled (max_requests stays 0):
# that would cut a long import short (harmlessly, as it is one transaction, but needlessly).
timeout = int(os.environ.get("OPSPLATFORM_TIMEOUT", 300))
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("OPSPLATFORM_FORWARDED_ALLOW_IPS", "127.0.0.1")
