"""`python -m instruments check [folder]`: lint every definition file, one line each."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .loader import DEFINITIONS, InstrumentError, definition_files, load_instrument


def check(folder: Path) -> int:
    """Print one line per definition file; return 1 if any is broken or none exist."""
    files = definition_files(folder)
    if not files:
        print(f"no definition files (*.yaml) in {folder}")
        return 1
    broken = 0
    for path in files:
        try:
            instrument = load_instrument(path)
        except InstrumentError as error:
            broken += 1
            print(f"error {error}")
            continue
        print(
            f"ok    {path.name}: {instrument.title} "
            f"({len(instrument.items)} items, {len(instrument.subscales)} subscales)"
        )
    return 1 if broken else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the command."""
    parser = argparse.ArgumentParser(prog="python -m instruments")
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="lint every definition file")
    check_parser.add_argument("folder", nargs="?", type=Path, default=DEFINITIONS)
    args = parser.parse_args(argv)
    return check(args.folder)


if __name__ == "__main__":
    sys.exit(main())
