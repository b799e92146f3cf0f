"""Pydantic models of the definition format: these models are the schema."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Literal["scored", "checklist", "screen"]
Method = Literal["mean", "sum"]
Direction = Literal["health", "concern"]
Level = Literal["review", "urgent"]
ItemType = Literal["choice", "text"]
# The side of the pursue-withdraw cycle an area shows: a concern area when its score is
# high, a health area (e.g. a differentiation facet) when its score is low.
Cycle = Literal["pursue", "withdraw"]
PromptTheme = Literal[
    "calm_talks",
    "boundaries",
    "daily_connection",
    "demand_withdraw",
    "stress_health",
    "repair_trust",
    "intimacy",
    "curiosity",
]

# Human labels for prompt themes, in PRODUCT.md's "what helps" order.
THEME_LABELS: dict[str, str] = {
    "calm_talks": "Calm, planned talks",
    "boundaries": "Agreed boundaries and expectations",
    "daily_connection": "Small daily connection",
    "demand_withdraw": "Easing the pursue-withdraw cycle",
    "stress_health": "Care for stress and health",
    "repair_trust": "Repair and rebuilding trust",
    "intimacy": "Closeness, step by step",
    "curiosity": "Curiosity about each other",
}

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
DEFAULT_TEXT_MAX_LENGTH = 1000
# A page of a partner's form holds at most this many items (a declared page may not hold more;
# instruments.paging splits undeclared ones into pages of at most PAGE_ITEMS).
MAX_PAGE_ITEMS = 10


def theme_label(theme: str) -> str:
    """Return the human label of a prompt theme id (KeyError if unknown)."""
    return THEME_LABELS[theme]


class DefinitionProblem(ValueError):
    """A rule broken inside a definition, with the path to the offending field."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class _Model(BaseModel):
    # extra="forbid" turns a misspelt key (e.g. "revers") into an error instead
    # of a silently ignored field; strict stops "1" from passing as version 1.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ScaleValue(_Model):
    """One answer option of a response scale."""

    value: int
    label: str = Field(min_length=1)


class Scale(_Model):
    """A response scale: contiguous ascending integer values with labels."""

    values: list[ScaleValue] = Field(min_length=2)
    discuss_gap: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _check_values(self) -> Scale:
        for index in range(1, len(self.values)):
            if self.values[index].value != self.values[index - 1].value + 1:
                raise DefinitionProblem(
                    ("values", index, "value"),
                    "scale values must be ascending and contiguous "
                    f"(expected {self.values[index - 1].value + 1}, "
                    f"got {self.values[index].value})",
                )
        if self.discuss_gap is not None and self.discuss_gap > self.high - self.low:
            raise DefinitionProblem(
                ("discuss_gap",),
                f"discuss_gap {self.discuss_gap} is larger than the scale's range ({self.high - self.low})",
            )
        return self

    @property
    def low(self) -> int:
        """Lowest value on the scale."""
        return self.values[0].value

    @property
    def high(self) -> int:
        """Highest value on the scale."""
        return self.values[-1].value

    @property
    def midpoint(self) -> float:
        """The scale's midpoint, (min + max) / 2."""
        return (self.low + self.high) / 2

    @property
    def gap_threshold(self) -> int:
        """Item gap at or above which two answers are worth discussing."""
        if self.discuss_gap is not None:
            return self.discuss_gap
        # Default: half the range, rounded up (2 on a 1-5 scale, 3 on a 1-6 scale).
        return max(1, -(-(self.high - self.low) // 2))

    def label_of(self, value: int) -> str:
        """Return the label of a value on this scale."""
        return self.values[value - self.low].label

    def contains(self, value: int) -> bool:
        """Say whether a value is on this scale."""
        return self.low <= value <= self.high


class SafetyRule(_Model):
    """Which raw answers to an item raise a safety flag, and how urgently."""

    values: list[int] = Field(min_length=1)
    level: Level


class Item(_Model):
    """One question."""

    id: str = Field(pattern=ID_PATTERN)
    text: str = Field(min_length=1)
    type: ItemType = "choice"
    scale: str | None = None
    subscale: str | None = None
    reverse: bool = False
    max_length: int | None = Field(default=None, ge=1)
    safety: SafetyRule | None = None

    @model_validator(mode="after")
    def _check_type(self) -> Item:
        if self.type == "choice":
            if self.scale is None:
                raise DefinitionProblem(("scale",), "a choice item needs a scale")
            if self.max_length is not None:
                raise DefinitionProblem(("max_length",), "only text items have max_length")
        else:
            for field in ("scale", "subscale", "safety"):
                if getattr(self, field) is not None:
                    raise DefinitionProblem((field,), f"a text item has no {field}")
            if self.reverse:
                raise DefinitionProblem(("reverse",), "a text item cannot be reverse-keyed")
        return self

    @property
    def text_limit(self) -> int:
        """Longest accepted answer for a text item."""
        return self.max_length if self.max_length is not None else DEFAULT_TEXT_MAX_LENGTH


class Band(_Model):
    """An interpretation band: scores below `below` (or any, for the last band)."""

    below: float | None = None
    label: str = Field(min_length=1)
    meaning: str = Field(min_length=1)
    concern: bool = False


class Psychometrics(_Model):
    """Published SD and reliability, needed for reliable change."""

    sd: float = Field(gt=0)
    reliability: float = Field(gt=0, lt=1)


class Norms(_Model):
    """Population mean and SD, needed for z-scores and percentiles."""

    mean: float
    sd: float = Field(gt=0)


class Prompt(_Model):
    """A discussion prompt shown when a score sits in a concern band."""

    theme: PromptTheme
    text: str = Field(min_length=1)


class _Measure(_Model):
    """Fields shared by subscales and totals."""

    id: str = Field(pattern=ID_PATTERN)
    label: str = Field(min_length=1)
    description: str = ""
    method: Method
    min_answered: float = Field(gt=0, le=1)
    direction: Direction
    bands: list[Band] = Field(default_factory=list)
    psychometrics: Psychometrics | None = None
    norms: Norms | None = None
    prompts: list[Prompt] = Field(default_factory=list)
    # A question the therapist can open with when this area comes up in a session brief.
    question: str | None = Field(default=None, min_length=1)
    cycle: Cycle | None = None

    @model_validator(mode="after")
    def _check_bands(self) -> _Measure:
        for index, band in enumerate(self.bands):
            last = index == len(self.bands) - 1
            if last and band.below is not None:
                raise DefinitionProblem(("bands", index, "below"), "the last band must not have `below`")
            if not last and band.below is None:
                raise DefinitionProblem(("bands", index, "below"), "every band but the last needs `below`")
            previous = self.bands[index - 1].below if index else None
            if band.below is not None and previous is not None and band.below <= previous:
                raise DefinitionProblem(
                    ("bands", index, "below"),
                    f"bands must be ascending ({band.below} is not above {previous})",
                )
        return self

    def band_for(self, value: float) -> Band | None:
        """Return the band a value falls in (None if the measure has no bands)."""
        for band in self.bands:
            if band.below is None or value < band.below:
                return band
        return None


class Subscale(_Measure):
    """A subscale: scored from the items that name it."""


class Total(_Measure):
    """A total: scored from all items of the subscales it lists."""

    subscales: list[str] = Field(min_length=1)


Measure = Subscale | Total


class Page(_Model):
    """One page of the partner's form: the items shown together, in file order (a shuffled
    instrument shuffles within each page)."""

    items: list[str] = Field(min_length=1, max_length=MAX_PAGE_ITEMS)


class Instrument(_Model):
    """One version of one questionnaire, fully validated."""

    id: str = Field(pattern=ID_PATTERN)
    version: int = Field(ge=1)
    kind: Kind
    title: str = Field(min_length=1)
    # The title partners see, in plain words (the therapist's term stays in `title`).
    title_client: str | None = Field(default=None, min_length=1)
    description_client: str = Field(min_length=1)
    description_clinician: str = Field(min_length=1)
    minutes: int = Field(ge=1)
    attribution: str = Field(min_length=1)
    licence: str = Field(min_length=1)
    normed: bool
    notice: str | None = None
    shuffle: bool = False
    scales: dict[str, Scale] = Field(default_factory=dict)
    items: list[Item] = Field(min_length=1)
    subscales: list[Subscale] = Field(default_factory=list)
    totals: list[Total] = Field(default_factory=list)
    # Optional: how the partner's form is split into pages (every item on exactly one page).
    pages: list[Page] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_references(self) -> Instrument:
        self._check_ids()
        self._check_items()
        self._check_subscales()
        self._check_totals()
        self._check_pages()
        return self

    def _check_pages(self) -> None:
        if not self.pages:
            return
        known = {item.id for item in self.items}
        placed: set[str] = set()
        for index, page in enumerate(self.pages):
            for position, item_id in enumerate(page.items):
                if item_id not in known:
                    raise DefinitionProblem(("pages", index, "items", position), f"unknown item {item_id!r}")
                if item_id in placed:
                    raise DefinitionProblem(
                        ("pages", index, "items", position), f"item {item_id!r} is on more than one page"
                    )
                placed.add(item_id)
        missing = [item.id for item in self.items if item.id not in placed]
        if missing:
            raise DefinitionProblem(("pages",), f"items on no page: {', '.join(missing)}")

    @property
    def client_title(self) -> str:
        """The title partners see: `title_client`, or `title` when the file gives none."""
        return self.title_client or self.title

    @property
    def has_private_items(self) -> bool:
        """Whether any item is a safety item: its answers are never shown again to whoever opens
        the link later, and the page carries the practice's crisis information."""
        return any(item.safety is not None for item in self.items)

    def _check_ids(self) -> None:
        for scale_id in self.scales:
            if not re.match(ID_PATTERN, scale_id):
                raise DefinitionProblem(("scales", scale_id), f"scale id {scale_id!r} should match {ID_PATTERN}")
        seen: set[str] = set()
        for index, item in enumerate(self.items):
            if item.id in seen:
                raise DefinitionProblem(("items", index, "id"), f"duplicate item id {item.id!r}")
            seen.add(item.id)
        # Subscales and totals share one namespace: the app looks both up by id.
        seen = set()
        for group in ("subscales", "totals"):
            for index, measure in enumerate(getattr(self, group)):
                if measure.id in seen:
                    raise DefinitionProblem((group, index, "id"), f"duplicate subscale or total id {measure.id!r}")
                seen.add(measure.id)

    def _check_items(self) -> None:
        subscale_ids = {s.id for s in self.subscales}
        for index, item in enumerate(self.items):
            if item.type != "choice":
                continue
            scale = self.scales.get(item.scale or "")
            if scale is None:
                raise DefinitionProblem(("items", index, "scale"), f"unknown scale {item.scale!r}")
            if item.subscale is None and self.kind == "scored":
                raise DefinitionProblem(
                    ("items", index, "subscale"),
                    "every choice item of a scored instrument needs a subscale",
                )
            if item.subscale is not None and item.subscale not in subscale_ids:
                raise DefinitionProblem(("items", index, "subscale"), f"unknown subscale {item.subscale!r}")
            if item.safety is not None:
                for value in item.safety.values:
                    if not scale.contains(value):
                        raise DefinitionProblem(
                            ("items", index, "safety", "values"),
                            f"{value} is not a value of scale {item.scale!r}",
                        )
                if len(set(item.safety.values)) != len(item.safety.values):
                    raise DefinitionProblem(("items", index, "safety", "values"), "values are repeated")

    def _check_subscales(self) -> None:
        if self.kind == "scored" and not self.subscales:
            raise DefinitionProblem(("subscales",), "a scored instrument needs subscales")
        for index, subscale in enumerate(self.subscales):
            items = self.items_of(subscale.id)
            if not items:
                raise DefinitionProblem(("subscales", index), f"subscale {subscale.id!r} has no items")
            # One scale per subscale keeps means, prorated sums and bands meaningful.
            scales = sorted({item.scale or "" for item in items})
            if len(scales) > 1:
                raise DefinitionProblem(
                    ("subscales", index),
                    f"items of subscale {subscale.id!r} use more than one scale ({', '.join(scales)})",
                )
        if self.norms_present() and not self.normed:
            raise DefinitionProblem(("normed",), "norms are given, so normed must be true")

    def _check_totals(self) -> None:
        by_id = {s.id: s for s in self.subscales}
        for index, total in enumerate(self.totals):
            for position, subscale_id in enumerate(total.subscales):
                subscale = by_id.get(subscale_id)
                if subscale is None:
                    raise DefinitionProblem(
                        ("totals", index, "subscales", position),
                        f"unknown subscale {subscale_id!r}",
                    )
                if subscale.direction != total.direction:
                    raise DefinitionProblem(
                        ("totals", index, "subscales", position),
                        f"subscale {subscale_id!r} has direction {subscale.direction!r}, "
                        f"the total has {total.direction!r}",
                    )
            if len(set(total.subscales)) != len(total.subscales):
                raise DefinitionProblem(("totals", index, "subscales"), "subscales are repeated")
            scales = sorted({item.scale or "" for item in self.items_of(total.id)})
            if len(scales) > 1:
                raise DefinitionProblem(
                    ("totals", index, "subscales"),
                    f"items of total {total.id!r} use more than one scale ({', '.join(scales)})",
                )

    def norms_present(self) -> bool:
        """Say whether any subscale or total carries norms."""
        return any(m.norms is not None for m in self.measures())

    def measures(self) -> list[Measure]:
        """Return subscales then totals, in file order."""
        return [*self.subscales, *self.totals]

    def measure(self, measure_id: str) -> Measure:
        """Return the subscale or total with this id (KeyError if unknown)."""
        for measure in self.measures():
            if measure.id == measure_id:
                return measure
        raise KeyError(measure_id)

    def item(self, item_id: str) -> Item:
        """Return the item with this id (KeyError if unknown)."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def worded_healthy(self, item_id: str) -> bool:
        """Whether agreeing with an item's own wording is the healthy side (a plain item of a health
        area, or a reverse-keyed item of a concern area): only such a statement, shown on its own,
        reads as a strength."""
        item = self.item(item_id)
        if item.subscale is None:
            return False
        return (self.measure(item.subscale).direction == "health") != item.reverse

    def scale_of(self, item: Item) -> Scale:
        """Return the response scale of a choice item."""
        if item.scale is None:
            raise KeyError(f"{item.id} is a text item and has no scale")
        return self.scales[item.scale]

    def possible(self, measure_id: str) -> tuple[float, float]:
        """Return the lowest and highest possible score of a subscale or total: a mean spans
        its scale, a sum (prorated to every item) the items times the scale."""
        measure = self.measure(measure_id)
        items = self.items_of(measure_id)
        scale = self.scale_of(items[0])  # the schema guarantees one scale per measure
        n = len(items) if measure.method == "sum" else 1
        return float(scale.low * n), float(scale.high * n)

    def items_of(self, measure_id: str) -> list[Item]:
        """Return the choice items scored by a subscale or total, in file order."""
        known = self.items_by_measure.get(measure_id)
        if known is not None:
            return list(known)
        total = next((t for t in self.totals if t.id == measure_id), None)
        members = set(total.subscales) if total is not None else {measure_id}
        return [i for i in self.items if i.type == "choice" and i.subscale in members]

    @cached_property
    def items_by_measure(self) -> dict[str, tuple[Item, ...]]:
        """Each subscale's and total's choice items, worked out once (a version never changes:
        scoring asks for them for every score of every partner)."""
        found: dict[str, tuple[Item, ...]] = {}
        for measure in [*self.subscales, *self.totals]:
            members = set(measure.subscales) if isinstance(measure, Total) else {measure.id}
            found[measure.id] = tuple(i for i in self.items if i.type == "choice" and i.subscale in members)
        return found
