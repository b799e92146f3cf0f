"""Scores and differences in words, the same on the couple view, in the brief and in the reports."""

from __future__ import annotations

from instruments import ScoreResult, SubscaleComparison
from instruments.numbers import fmt

NOT_SENT = "not sent yet"
NOT_ENOUGH = "not enough answers"
# Where a partner who has not sent an assessment stands (an invitation's state), in words.
WAITING_WORDS = {
    "not_opened": "has not opened the link yet",
    "opened": "opened the link, nothing saved yet",
    "in_progress": "started, not sent yet",
    "expired": "the link ran out",
    "revoked": "the link was revoked",
}


def in_words(found: ScoreResult | None, *, sent: bool = True) -> str:
    """A partner's score as a reader takes it in: "Strained (2.25)"."""
    if found is None:
        return NOT_SENT if not sent else "—"
    if not found.valid or found.value is None:
        return NOT_ENOUGH
    number = fmt(found.value)
    return f"{found.band.label} ({number})" if found.band else number


def higher_by(difference: float | None, names: dict[int, str]) -> str:
    """A difference b - a in words: "Daniel higher by 0.80" (or "the same score")."""
    if difference is None:
        return "—"
    written = fmt(abs(difference))
    if written == fmt(0):
        return "the same score"
    return f"{names[2] if difference > 0 else names[1]} higher by {written}"


def agreement_words(cmp: SubscaleComparison) -> str:
    """How the statements both partners answered fall, zeros left out: "3 both positive · 1 split"."""
    parts = [
        (cmp.shared_strengths, "both positive"),
        (cmp.shared_concerns, "both a concern"),
        (cmp.splits, "split"),
        (cmp.unsure, "unsure"),
    ]
    return " · ".join(f"{count} {words}" for count, words in parts if count) or "—"
