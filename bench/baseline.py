"""The web bench's baseline for autosave: a bare Flask app whose one route only writes the answer.

POST /save takes autosave's JSON body ({"instrument", "item", "value"}) and upserts that
one answer for one invitation (BASELINE_INVITATION_ID, the bench partner's) with the app's
own answer upsert (clinic.services.responses._upsert: INSERT … VALUES … ON CONFLICT
(invitation, instrument, item) DO UPDATE on the answer table, compiled once as the app
compiles it), through the same Flask-SQLAlchemy session and engine options as the app, and
commits. Autosave writes the same row with the same ON CONFLICT, selecting it from the
invitation's row only while the partner's link is live (INSERT … SELECT). Nothing else: no
session cookie, no CSRF check, no link check, no validation, no rate limit, no security
headers. It is what saving an answer costs on this database and this server when
everything Tandem adds is taken away (and it follows any change to the upsert itself);
bench/web.py serves it with the same gunicorn.conf.py, workers and wrk connections as the
app, in the same run, and measures autosave against it.

Served by the bench only (`gunicorn -c gunicorn.conf.py bench.baseline:app`, from the
repository, with the bench's environment); never part of the app.
"""

from __future__ import annotations

import os

from flask import Flask, request

from clinic.config import Config, database_url
from clinic.db_types import utcnow
from clinic.extensions import db
from clinic.services.responses import _upsert

INVITATION_ID = int(os.environ.get("BASELINE_INVITATION_ID", "0"))

app = Flask(__name__)
app.config.update(
    SQLALCHEMY_DATABASE_URI=database_url(os.environ["DATABASE_URL"]),
    SQLALCHEMY_ENGINE_OPTIONS=Config.SQLALCHEMY_ENGINE_OPTIONS,
)
db.init_app(app)


@app.get("/healthz")
def healthz():
    """Up (the bench's Server waits for this)."""
    return {"ok": True}


@app.post("/save")
def save():
    """Upsert the one answer the body names, as autosave's write does, and commit."""
    body = request.get_json()
    value = body["value"]
    row = {
        "invitation_id": INVITATION_ID,
        "instrument_id": body["instrument"],
        "item_id": body["item"],
        "value": value if isinstance(value, int) else None,
        "text": value if isinstance(value, str) else None,
        "updated_at": utcnow(),
    }
    db.session.execute(_upsert(), [row])
    db.session.commit()
    return {"saved": True}
