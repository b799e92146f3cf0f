"""Entry point for gunicorn (`gunicorn wsgi:app`) and the flask CLI (`flask --app wsgi ...`)."""

import sys

from clinic import ConfigError, create_app

try:
    app = create_app()
except ConfigError as exc:
    # One line that says why, not a traceback.
    sys.exit(f"Tandem will not start: {exc}")
