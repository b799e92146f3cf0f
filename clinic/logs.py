"""Keep secrets out of logs: link tokens appear in request lines, so they are masked."""

from __future__ import annotations

import logging
import re

from flask import Flask

# Paths whose last segment is a secret link token.
TOKEN_PATH = re.compile(r"(/(?:invite|l|reset)/)[A-Za-z0-9_\-]{8,}")


def redact(text: str) -> str:
    """The text with every link token replaced by a placeholder."""
    return TOKEN_PATH.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    """Rewrites a record's message so no link token reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def init_app(app: Flask) -> None:
    # The development server's access log (werkzeug) and gunicorn's would print
    # the token of every link opened.
    # Flask's own logger too: "Exception on /l/<token> [GET]" names the path.
    for logger in (
        *(logging.getLogger(name) for name in ("werkzeug", "gunicorn.access", "gunicorn.error")),
        app.logger,
    ):
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
