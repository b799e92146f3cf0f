"""gunicorn settings for Tandem: `gunicorn wsgi:app` from the repository reads this file by itself.

Every setting can be changed through the environment, so one file serves a laptop,
a single server and several app servers behind a proxy:

  WEB_CONCURRENCY     worker processes (default 2: one per core of a small server)
  GUNICORN_BIND       the address to listen on; else HOST:PORT (default 127.0.0.1:8000)
  GUNICORN_PRELOAD    load the app once in the master before forking (default on: less
                      memory, and a bad setting stops start-up once, with one line)
  GUNICORN_TIMEOUT    seconds before a stuck worker is restarted (default 30; PDFs never
                      render in a request, so nothing legitimate takes that long)
  GUNICORN_ACCESS_LOG where to write the access log: "-" for stderr, or a file; off by
                      default (the proxy in front usually logs requests). When on, link
                      tokens in request lines are masked (clinic/logs.py filters the
                      gunicorn.access logger).
  FORWARDED_ALLOW_IPS the proxies trusted to say the request came over https
                      (X-Forwarded-Proto); default 127.0.0.1,::1
"""

from __future__ import annotations

import os


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


bind = os.environ.get("GUNICORN_BIND") or f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Synchronous workers: each request is short (no PDF, no email waits in a request), so
# one request per process at a time keeps memory flat and latency predictable.
worker_class = "sync"
preload_app = _flag("GUNICORN_PRELOAD", True)
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


def post_fork(server, worker):
    """A worker never shares the master's database connections (a preloaded app opens none, but be sure)."""
    if not preload_app:
        return
    from clinic.extensions import db
    from wsgi import app

    with app.app_context():
        db.engine.dispose(close=False)
