"""Template filters and globals."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, g
from flask_login import current_user

from clinic.wording import WAITING_WORDS, agreement_words, higher_by
from instruments.numbers import fmt


def practice_zone() -> ZoneInfo:
    """The signed-in clinician's practice time zone (UTC for everyone else); found once per request."""
    zone = g.get("_practice_zone")
    if zone is None:
        zone = g._practice_zone = _practice_zone()
    return zone


def _practice_zone() -> ZoneInfo:
    name = "UTC"
    if current_user and current_user.is_authenticated:
        name = current_user.practice.timezone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# How a date and time is written on pages, in PDFs and in emails: with its zone ("4 Dec 2026,
# 14:05 GMT"). A bare date ("4 Dec") leaves the zone to the page, which states it once.
DATE_TIME = "%-d %b %Y, %H:%M %Z"


def localtime(value: datetime | None, fmt: str = DATE_TIME) -> str:
    """A UTC timestamp shown in the practice's time zone."""
    if value is None:
        return "—"
    return value.astimezone(practice_zone()).strftime(fmt)


def practice_zone_name() -> str:
    """The zone the signed-in clinician's pages show times in, as its IANA name ("Europe/London")."""
    return practice_zone().key


def localtime_in(value: datetime | None, zone: str, fmt: str = DATE_TIME) -> str:
    """A UTC timestamp shown in a named zone (for emails, where no one is signed in)."""
    if value is None:
        return "—"
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return value.astimezone(tz).strftime(fmt)


def num(value: float | None) -> str:
    """A score, difference or change as written everywhere: half-up to two decimals ("—" when missing)."""
    return fmt(value)


def signed(value: float | None) -> str:
    """A change with its sign: "+1.80", "-0.40", "0.00"."""
    return fmt(value, signed=True)


def crisis_lines(text: str) -> list[str]:
    """A practice's crisis text as short lines to scan: its own lines, or else its sentences."""
    lines = [line.strip(" -•\t") for line in text.splitlines()]
    lines = [line for line in lines if line]
    if len(lines) == 1:
        lines = [part for part in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9])", lines[0]) if part]
    return lines


def init_app(app: Flask) -> None:
    app.add_template_filter(localtime, "localtime")
    app.add_template_filter(localtime_in, "localtime_in")
    app.add_template_global(practice_zone_name, "practice_zone_name")
    app.add_template_filter(num, "num")
    app.add_template_filter(crisis_lines, "crisis_lines")
    app.add_template_filter(signed, "signed")
    app.add_template_global(higher_by, "higher_by")
    app.add_template_filter(agreement_words, "agreement")
    app.add_template_global(WAITING_WORDS, "WAITING_WORDS")
