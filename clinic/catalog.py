"""The questionnaires this app offers, loaded once at start-up from instruments/."""

from __future__ import annotations

from flask import Flask, current_app

from instruments import Instrument, Registry, load_registry

EXTENSION_KEY = "tandem_instruments"


def init_app(app: Flask) -> None:
    # Loading validates every file: a broken definition stops start-up with a
    # message naming the file, the item and the field (InstrumentError).
    app.extensions[EXTENSION_KEY] = load_registry(app.config.get("INSTRUMENTS_FOLDER"))


def registry() -> Registry:
    """Every instrument version the app knows."""
    return current_app.extensions[EXTENSION_KEY]


def instrument(instrument_id: str, version: int) -> Instrument:
    """One instrument version (KeyError if unknown)."""
    return registry().get(instrument_id, version)
