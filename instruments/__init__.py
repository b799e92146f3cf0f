"""Tandem's questionnaire engine: definitions as data, pure scoring; imports no Flask."""

from .change import (
    ChangeUnknown,
    GapChange,
    ReliableChange,
    gap_change,
    reliable_change,
    score_change,
    score_gap_change,
)
from .compare import Comparison, ItemComparison, SubscaleComparison, compare
from .loader import (
    InstrumentError,
    Registry,
    definition_files,
    load_instrument,
    load_registry,
    parse_instrument,
)
from .paging import paginate
from .schema import (
    THEME_LABELS,
    Band,
    Instrument,
    Item,
    Measure,
    Prompt,
    Scale,
    Subscale,
    Total,
    theme_label,
)
from .scoring import AnswerError, Result, SafetyFlag, ScoreResult, item_order, score

__all__ = [
    "THEME_LABELS",
    "AnswerError",
    "Band",
    "ChangeUnknown",
    "Comparison",
    "GapChange",
    "Instrument",
    "InstrumentError",
    "Item",
    "ItemComparison",
    "Measure",
    "Prompt",
    "Registry",
    "ReliableChange",
    "Result",
    "SafetyFlag",
    "Scale",
    "ScoreResult",
    "Subscale",
    "SubscaleComparison",
    "Total",
    "compare",
    "definition_files",
    "gap_change",
    "item_order",
    "load_instrument",
    "load_registry",
    "paginate",
    "parse_instrument",
    "reliable_change",
    "score",
    "score_change",
    "score_gap_change",
    "theme_label",
]
