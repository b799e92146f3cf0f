"""YAML definition files → validated Instruments, kept in a Registry by (id, version)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .schema import DefinitionProblem, Instrument

DEFINITIONS = Path(__file__).parent / "definitions"


class InstrumentError(Exception):
    """A definition file is broken; the message names the file, the item and the field."""


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def describe_location(raw: Any, loc: tuple[str | int, ...]) -> str:
    """Render a field path like `items[3] (heard_4).scale`, naming list entries by id."""
    parts: list[str] = []
    node = raw
    for key in loc:
        if isinstance(key, int):
            parts.append(f"[{key}]")
            node = node[key] if isinstance(node, list) and 0 <= key < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                parts.append(f" ({node['id']})")
        else:
            parts.append(f".{key}" if parts else str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts)


def _first_problem(raw: Any, error: ValidationError) -> str:
    """Turn the first pydantic error into `location: message`."""
    detail = error.errors()[0]
    loc = tuple(detail["loc"])
    cause = (detail.get("ctx") or {}).get("error")
    if isinstance(cause, DefinitionProblem):
        loc += cause.path
        message = cause.message
    else:
        message = detail["msg"]
        if detail["type"] == "string_type" and isinstance(detail["input"], bool):
            # YAML 1.1 reads yes/no/on/off as booleans; the fix is to quote them.
            message += " (YAML reads yes/no/on/off as true/false: put it in quotes)"
    where = describe_location(raw, loc)
    return f"{where}: {message}" if where else message


def parse_instrument(raw: Any, source: str) -> Instrument:
    """Validate already-parsed YAML data; `source` names the file in errors."""
    if not isinstance(raw, Mapping):
        raise InstrumentError(f"{source}: expected a mapping of fields at the top level")
    try:
        return Instrument.model_validate(raw)
    except ValidationError as error:
        raise InstrumentError(f"{source}: {_first_problem(raw, error)}") from None


def load_instrument(path: Path | str) -> Instrument:
    """Load and validate one definition file named `<id>-v<version>.yaml`."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506  # nosec B506 -- a SafeLoader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise InstrumentError(f"{path.name}: invalid YAML{where}: {problem}") from None
    instrument = parse_instrument(raw, path.name)
    expected = f"{instrument.id}-v{instrument.version}.yaml"
    # The file name is how people find a version; a mismatch means a copy-paste slip.
    if path.name != expected:
        raise InstrumentError(f"{path.name}: id: file name should be {expected}")
    return instrument


def definition_files(folder: Path | str | None = None) -> list[Path]:
    """List the definition files of a folder (default: the shipped definitions), sorted."""
    return sorted(Path(folder or DEFINITIONS).glob("*.yaml"))


class Registry:
    """Every loaded instrument version, keyed by (id, version)."""

    def __init__(self, instruments: list[Instrument] | None = None) -> None:
        self._by_key: dict[tuple[str, int], Instrument] = {}
        for instrument in instruments or []:
            self.add(instrument)

    def add(self, instrument: Instrument) -> None:
        """Add one instrument version; a second copy of the same version is an error."""
        key = (instrument.id, instrument.version)
        if key in self._by_key:
            raise InstrumentError(f"{instrument.id} v{instrument.version}: loaded twice")
        self._by_key[key] = instrument

    def get(self, instrument_id: str, version: int) -> Instrument:
        """Return exactly this version (KeyError if unknown)."""
        return self._by_key[(instrument_id, version)]

    def latest(self, instrument_id: str) -> Instrument:
        """Return the highest version of an instrument (KeyError if unknown)."""
        versions = [v for (i, v) in self._by_key if i == instrument_id]
        if not versions:
            raise KeyError(instrument_id)
        return self._by_key[(instrument_id, max(versions))]

    def all(self) -> list[tuple[str, int]]:
        """Return every (id, version), sorted."""
        return sorted(self._by_key)

    def ids(self) -> list[str]:
        """Return every instrument id once, sorted."""
        return sorted({i for (i, _) in self._by_key})

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_key[key] for key in self.all())

    def __len__(self) -> int:
        return len(self._by_key)


def load_registry(folder: Path | str | None = None) -> Registry:
    """Load every `*.yaml` in a folder (default: instruments/definitions/)."""
    return Registry([load_instrument(path) for path in definition_files(folder)])
