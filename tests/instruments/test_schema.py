"""The definition schema, the loader's exact error messages, and the registry."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from instruments import (
    THEME_LABELS,
    InstrumentError,
    Registry,
    load_instrument,
    load_registry,
    parse_instrument,
    score,
    theme_label,
)
from instruments.loader import DEFINITIONS, definition_files, describe_location
from instruments.numbers import fmt
from instruments.schema import PromptTheme

FIXTURES = Path(__file__).parent / "fixtures"
BROKEN = FIXTURES / "broken"
TINY = "tiny-v1.yaml"


def tiny_data() -> dict[str, Any]:
    """Return the raw YAML data of the tiny fixture, fresh for mutation."""
    return yaml.safe_load((FIXTURES / TINY).read_text(encoding="utf-8"))


def error_of(data: dict[str, Any]) -> str:
    """Return the InstrumentError message for data posing as tiny-v1.yaml."""
    with pytest.raises(InstrumentError) as caught:
        parse_instrument(data, TINY)
    return str(caught.value)


def test_fixture_loads_with_every_part() -> None:
    inst = load_instrument(FIXTURES / TINY)
    assert (inst.id, inst.version, inst.kind) == ("tiny", 1, "scored")
    assert [s.id for s in inst.subscales] == ["heard", "warmth", "pulling"]
    assert [i.id for i in inst.items_of("total")] == [
        "heard_1",
        "heard_2",
        "heard_3",
        "warm_1",
        "warm_2",
    ]
    assert inst.scales["agree5"].gap_threshold == 2  # given in the file
    assert inst.scales["often4"].gap_threshold == 2  # default: ceil((3 - 0) / 2)
    assert inst.scales["agree5"].midpoint == 3.0
    assert inst.scales["often4"].midpoint == 1.5
    assert inst.item("note").text_limit == 20
    assert inst.measure("total").subscales == ["heard", "warmth"]
    with pytest.raises(KeyError):
        inst.measure("nope")
    with pytest.raises(KeyError):
        inst.item("nope")


def test_text_items_default_to_1000_characters() -> None:
    data = tiny_data()
    del data["items"][8]["max_length"]
    assert parse_instrument(data, TINY).item("note").text_limit == 1000


def test_instrument_is_frozen() -> None:
    inst = load_instrument(FIXTURES / TINY)
    with pytest.raises(ValueError, match="frozen"):
        inst.title = "Changed"  # type: ignore[misc]


def test_band_for_at_and_around_cut_points() -> None:
    heard = load_instrument(FIXTURES / TINY).measure("heard")
    # Bands: below 2.5 Strained, below 3.5 Mixed, else Strong; `below` is strict.
    expected = {1.0: "Strained", 2.49: "Strained", 2.5: "Mixed", 3.49: "Mixed", 3.5: "Strong"}
    for value, label in expected.items():
        band = heard.band_for(value)
        assert band is not None and band.label == label, value


def test_theme_labels_cover_every_theme() -> None:
    assert set(THEME_LABELS) == set(PromptTheme.__args__)  # type: ignore[attr-defined]
    assert theme_label("calm_talks") == "Calm, planned talks"
    assert all(label and label[0].isupper() for label in THEME_LABELS.values())
    with pytest.raises(KeyError):
        theme_label("nope")


def test_describe_location_names_list_entries_by_id() -> None:
    raw = {"items": [{"id": "a"}, {"text": "no id"}]}
    assert describe_location(raw, ("items", 0, "scale")) == "items[0] (a).scale"
    assert describe_location(raw, ("items", 1, "scale")) == "items[1].scale"
    assert describe_location(raw, ("items", 5)) == "items[5]"
    assert describe_location(raw, ()) == ""


def _set(path: tuple[Any, ...], value: Any) -> Any:
    """Return a mutation that sets data[path] = value."""

    def mutate(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _delete(path: tuple[Any, ...]) -> Any:
    """Return a mutation that deletes data[path]."""

    def mutate(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _add_subscale(data: dict[str, Any]) -> None:
    data["subscales"].append(
        {"id": "empty", "label": "Empty", "method": "mean", "min_answered": 1, "direction": "health"}
    )


def _only_text_item(data: dict[str, Any]) -> None:
    data["items"] = [data["items"][8]]
    data["subscales"] = []
    data["totals"] = []
    data["normed"] = False


BROKEN_CASES = [
    (
        _set(("items", 0, "scale"), "agree7"),
        "items[0] (heard_1).scale: unknown scale 'agree7'",
    ),
    (
        _set(("items", 1, "subscale"), "nope"),
        "items[1] (heard_2).subscale: unknown subscale 'nope'",
    ),
    (
        _set(("items", 1, "id"), "heard_1"),
        "items[1] (heard_1).id: duplicate item id 'heard_1'",
    ),
    (
        _set(("totals", 0, "id"), "heard"),
        "totals[0] (heard).id: duplicate subscale or total id 'heard'",
    ),
    (
        _delete(("items", 0, "subscale")),
        "items[0] (heard_1).subscale: every choice item of a scored instrument needs a subscale",
    ),
    (
        _delete(("items", 0, "scale")),
        "items[0] (heard_1).scale: a choice item needs a scale",
    ),
    (
        _set(("items", 8, "scale"), "agree5"),
        "items[8] (note).scale: a text item has no scale",
    ),
    (
        _set(("items", 8, "reverse"), True),
        "items[8] (note).reverse: a text item cannot be reverse-keyed",
    ),
    (
        _set(("items", 0, "max_length"), 10),
        "items[0] (heard_1).max_length: only text items have max_length",
    ),
    (
        _set(("items", 0, "scale"), "often4"),
        "subscales[0] (heard): items of subscale 'heard' use more than one scale (agree5, often4)",
    ),
    (
        _add_subscale,
        "subscales[3] (empty): subscale 'empty' has no items",
    ),
    (
        _only_text_item,
        "subscales: a scored instrument needs subscales",
    ),
    (
        _set(("scales", "agree5", "values", 2, "value"), 4),
        "scales.agree5.values[2].value: scale values must be ascending and contiguous (expected 3, got 4)",
    ),
    (
        _set(("scales", "agree5", "discuss_gap"), 5),
        "scales.agree5.discuss_gap: discuss_gap 5 is larger than the scale's range (4)",
    ),
    (
        _set(("scales", "Agree"), {"values": [{"value": 1, "label": "a"}, {"value": 2, "label": "b"}]}),
        "scales.Agree: scale id 'Agree' should match ^[a-z][a-z0-9_]*$",
    ),
    (
        _set(("subscales", 0, "bands", 1, "below"), 2.0),
        "subscales[0] (heard).bands[1].below: bands must be ascending (2.0 is not above 2.5)",
    ),
    (
        _set(("subscales", 0, "bands", 2, "below"), 9),
        "subscales[0] (heard).bands[2].below: the last band must not have `below`",
    ),
    (
        _delete(("subscales", 0, "bands", 0, "below")),
        "subscales[0] (heard).bands[0].below: every band but the last needs `below`",
    ),
    (
        _set(("totals", 0, "subscales", 1), "nope"),
        "totals[0] (total).subscales[1]: unknown subscale 'nope'",
    ),
    (
        _set(("totals", 0, "subscales", 1), "pulling"),
        "totals[0] (total).subscales[1]: subscale 'pulling' has direction 'concern', the total has 'health'",
    ),
    (
        _set(("totals", 0, "subscales"), ["heard", "heard"]),
        "totals[0] (total).subscales: subscales are repeated",
    ),
    (
        _set(("items", 7, "safety", "values"), [4]),
        "items[7] (pull_3).safety.values: 4 is not a value of scale 'often4'",
    ),
    (
        _set(("items", 7, "safety", "level"), "high"),
        "items[7] (pull_3).safety.level: Input should be 'review' or 'urgent'",
    ),
    (
        _set(("subscales", 0, "min_answered"), 0),
        "subscales[0] (heard).min_answered: Input should be greater than 0",
    ),
    (
        _set(("subscales", 0, "min_answered"), 1.5),
        "subscales[0] (heard).min_answered: Input should be less than or equal to 1",
    ),
    (
        _set(("subscales", 0, "psychometrics", "reliability"), 1),
        "subscales[0] (heard).psychometrics.reliability: Input should be less than 1",
    ),
    (
        _set(("subscales", 0, "psychometrics", "reliability"), 0),
        "subscales[0] (heard).psychometrics.reliability: Input should be greater than 0",
    ),
    (
        _set(("subscales", 0, "psychometrics", "sd"), 0),
        "subscales[0] (heard).psychometrics.sd: Input should be greater than 0",
    ),
    (
        _set(("subscales", 0, "norms", "sd"), -1),
        "subscales[0] (heard).norms.sd: Input should be greater than 0",
    ),
    (
        _set(("normed",), False),
        "normed: norms are given, so normed must be true",
    ),
    (
        _set(("subscales", 0, "direction"), "up"),
        "subscales[0] (heard).direction: Input should be 'health' or 'concern'",
    ),
    (
        _set(("subscales", 0, "method"), "median"),
        "subscales[0] (heard).method: Input should be 'mean' or 'sum'",
    ),
    (
        _set(("items", 0, "revers"), True),
        "items[0] (heard_1).revers: Extra inputs are not permitted",
    ),
    (
        _delete(("items", 0, "text")),
        "items[0] (heard_1).text: Field required",
    ),
    (
        _set(("version",), "1"),
        "version: Input should be a valid integer",
    ),
    (
        _set(("version",), 0),
        "version: Input should be greater than or equal to 1",
    ),
    (
        _set(("id",), "Tiny"),
        "id: String should match pattern '^[a-z][a-z0-9_]*$'",
    ),
    (
        _set(("items", 0, "reverse"), "yes"),
        "items[0] (heard_1).reverse: Input should be a valid boolean",
    ),
    (
        _set(("scales", "agree5", "values", 0, "label"), True),
        "scales.agree5.values[0].label: Input should be a valid string "
        "(YAML reads yes/no/on/off as true/false: put it in quotes)",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), BROKEN_CASES, ids=[m for _, m in BROKEN_CASES])
def test_broken_definition_gives_exact_message(mutate: Any, message: str) -> None:
    data = tiny_data()
    mutate(data)
    assert error_of(data) == f"{TINY}: {message}"


def test_unknown_prompt_theme_names_the_field() -> None:
    data = tiny_data()
    data["subscales"][0]["prompts"][0]["theme"] = "hugs"
    assert error_of(data).startswith(f"{TINY}: subscales[0] (heard).prompts[0].theme: Input should be 'calm_talks', ")


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(InstrumentError) as caught:
        parse_instrument(["a list"], TINY)
    assert str(caught.value) == f"{TINY}: expected a mapping of fields at the top level"


def test_fixture_mutations_start_from_a_valid_file() -> None:
    # Guards BROKEN_CASES: each error must come from its mutation, not the base file.
    assert parse_instrument(copy.deepcopy(tiny_data()), TINY).id == "tiny"


BROKEN_FILES = {
    "badscale-v1.yaml": "badscale-v1.yaml: items[3] (heard_4).scale: unknown scale 'agree7'",
    "badyaml-v1.yaml": "badyaml-v1.yaml: invalid YAML (line 6): expected ',' or '}', but got '<stream end>'",
    "dupkey-v1.yaml": "dupkey-v1.yaml: invalid YAML (line 20): duplicate key 'text'",
    "misnamed-v1.yaml": "misnamed-v1.yaml: id: file name should be other-v1.yaml",
    "yesno-v1.yaml": "yesno-v1.yaml: scales.yesno.values[0].label: Input should be a valid "
    "string (YAML reads yes/no/on/off as true/false: put it in quotes)",
}


@pytest.mark.parametrize(("name", "message"), sorted(BROKEN_FILES.items()))
def test_broken_file_gives_exact_message(name: str, message: str) -> None:
    with pytest.raises(InstrumentError) as caught:
        load_instrument(BROKEN / name)
    assert str(caught.value) == message


def test_every_broken_file_is_covered() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(BROKEN_FILES)


def test_load_registry_stops_at_a_broken_file() -> None:
    with pytest.raises(InstrumentError, match=r"^badscale-v1\.yaml: "):
        load_registry(BROKEN)


def test_registry_keeps_versions_side_by_side() -> None:
    registry = load_registry(FIXTURES)
    assert registry.all() == [("tiny", 1), ("tiny", 2)]
    assert registry.ids() == ["tiny"]
    assert registry.get("tiny", 1).version == 1
    assert registry.get("tiny", 2).version == 2
    assert registry.latest("tiny").version == 2
    assert ("tiny", 1) in registry and ("tiny", 3) not in registry
    assert [(i.id, i.version) for i in registry] == [("tiny", 1), ("tiny", 2)]
    assert len(registry) == 2
    with pytest.raises(KeyError):
        registry.get("tiny", 3)
    with pytest.raises(KeyError):
        registry.get("nope", 1)
    with pytest.raises(KeyError):
        registry.latest("nope")


def test_registry_refuses_the_same_version_twice() -> None:
    inst = load_instrument(FIXTURES / TINY)
    with pytest.raises(InstrumentError, match="tiny v1: loaded twice"):
        Registry([inst, inst])


def test_past_response_rescores_on_its_own_version() -> None:
    registry = load_registry(FIXTURES)
    answers = {"heard_1": 4, "heard_2": 2, "heard_3": 5}
    # v1 reverse-keys heard_2: (4 + (1 + 5 - 2) + 5) / 3 = 13 / 3 = 4.33
    assert fmt(score(registry.get("tiny", 1), answers).scores["heard"].value) == "4.33"
    # v2 does not: (4 + 2 + 5) / 3 = 11 / 3 = 3.67
    assert fmt(score(registry.get("tiny", 2), answers).scores["heard"].value) == "3.67"


def test_default_folder_is_the_shipped_definitions() -> None:
    shipped = Path(__file__).parents[2] / "instruments" / "definitions"
    assert shipped == DEFINITIONS
    assert definition_files() == sorted(DEFINITIONS.glob("*.yaml"))


def test_empty_folder_gives_an_empty_registry(tmp_path: Path) -> None:
    assert load_registry(tmp_path).all() == []
