"""Values worked out from data that never changes once written, kept per app process.

A partner's answers are frozen when they are sent (no path writes to a submitted
invitation), and an instrument version never changes; so the answers of a
submitted invitation, the scores and comparisons made from them and the charts drawn
from those can be kept and reused, keyed by what they were made from. The couple
view and the report then skip reading, scoring and drawing what was read, scored and
drawn before; anything not yet kept is made as usual. Pages themselves are rendered
afresh each time (no page markup is kept: a key that must name everything a template
shows breaks the day it shows one more thing). A questionnaire's radio groups and
per-instrument form classes, which hold no client data, are kept the same way.

Keys hold the invitation id *and* its submission time, so a new invitation
that happens to reuse a deleted one's id (SQLite can) never meets an old value.
Each kind of value is bounded (least recently used goes first), lives in the
app's process memory only (next to the data keys that can read the database
anyway; nothing is written to disk or shared with another process) and is
forgotten an hour after it was made: a deleted couple's values, which no URL can
reach any more, do not linger in a long-running worker.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from flask import current_app

EXTENSION_KEY = "tandem_memo"
T = TypeVar("T")
MISSING = object()


class Memo:
    """A bounded, thread-safe least-recently-used map (the report threads share it)."""

    def __init__(self, size: int, max_age: float = 3600, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.max_age = max_age
        self._clock = clock
        self._values: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, default=None):
        with self._lock:
            found = self._values.get(key)
            if found is None:
                return default
            made_at, value = found
            if self._clock() - made_at > self.max_age:
                del self._values[key]
                return default
            self._values.move_to_end(key)
            return value

    def put(self, key: Hashable, value: T) -> T:
        with self._lock:
            self._values[key] = (self._clock(), value)
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def get_or_make(self, key: Hashable, make: Callable[[], T]) -> T:
        value = self.get(key, MISSING)
        if value is MISSING:
            value = self.put(key, make())
        return value  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self._values)


# How many of each kind one process keeps: about 500 recently viewed couples' worth
# (measured: 300 couples' answers, scores, comparisons and charts take about 21 MB),
# so a worker holds at most some 50 MB of them.
SIZES = {"answers": 1500, "score": 3000, "compare": 1500, "svg": 1500}
# The items worth talking about, picked from a kept comparison (a few item ids' worth each).
SIZES |= {"talk": 1500}
# Markup and form classes of the questionnaires themselves (no client data): small.
SIZES |= {"choices": 4000, "forms": 200}
# The questionnaire versions each partner link asks (autosave checks answers against them): small.
SIZES |= {"versions": 4000}


def init_app(app) -> None:
    app.extensions[EXTENSION_KEY] = {kind: Memo(size) for kind, size in SIZES.items()}


def memo(kind: str) -> Memo:
    """The current app's memo of one kind (a key of SIZES)."""
    return current_app.extensions[EXTENSION_KEY][kind]
