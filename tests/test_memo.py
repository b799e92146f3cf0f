"""clinic.memo: a bounded least-recently-used map that makes each value once."""

from __future__ import annotations

import threading

from clinic.memo import Memo


def test_a_value_is_made_once_and_then_served():
    kept = Memo(4)
    made = []
    for _ in range(3):
        assert kept.get_or_make("a", lambda: made.append(1) or "value") == "value"
    assert made == [1]


def test_the_least_recently_used_value_goes_first_when_full():
    kept = Memo(2)
    kept.put("a", 1)
    kept.put("b", 2)
    assert kept.get("a") == 1  # "a" is now the most recently used
    kept.put("c", 3)
    assert kept.get("b") is None and kept.get("a") == 1 and kept.get("c") == 3
    assert len(kept) == 2


def test_a_kept_none_or_falsy_value_is_still_a_value():
    kept = Memo(2)
    calls = []
    for _ in range(2):
        assert kept.get_or_make("empty", lambda: calls.append(1) or {}) == {}
    assert calls == [1]


def test_threads_filling_one_memo_never_exceed_its_size():
    kept = Memo(50)

    def fill(start: int) -> None:
        for n in range(start, start + 500):
            kept.get_or_make(n % 120, lambda n=n: n)

    threads = [threading.Thread(target=fill, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kept) == 50


def test_a_value_is_forgotten_an_hour_after_it_was_made():
    now = [1000.0]
    kept = Memo(4, max_age=3600, clock=lambda: now[0])
    kept.put("a", 1)
    now[0] += 3599
    assert kept.get("a") == 1
    now[0] += 2
    assert kept.get("a") is None and len(kept) == 0
    assert kept.get_or_make("a", lambda: 2) == 2
