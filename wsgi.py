"""Entry point for gunicorn (`gunicorn wsgi:app`) and the flask CLI (`flask --app wsgi ...`)."""

import sys

from clinic import ConfigError, create_app
from instruments import InstrumentError

try:
    app = create_app()
except (ConfigError, InstrumentError) as exc:
    # One line that says why, not a traceback.
    sys.exit(f"Tandem will not start: {exc}")
