"""Absolute links for emails, built from BASE_URL.

Never from the request's Host header: a forged Host would otherwise put an
attacker's address in front of a real token (host-header poisoning).
"""

from __future__ import annotations

from flask import current_app


class LinkError(RuntimeError):
    """Links for emails cannot be built; the message says what to configure."""


def external_url(endpoint: str, **values) -> str:
    """The public address of an endpoint, e.g. a partner's or clinician's link."""
    base = (current_app.config.get("BASE_URL") or "").rstrip("/")
    if not base:
        raise LinkError("BASE_URL is not set: Tandem needs its public address to put links in emails.")
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return base + path
