"""The engine stays free of Flask: no import in the source, none at run time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "instruments"
# The web stack: any of these would tie the engine to the app.
FORBIDDEN = {"flask", "flask_sqlalchemy", "flask_login", "flask_wtf", "werkzeug", "sqlalchemy"}


def imported_modules(source: str) -> set[str]:
    """Return the top-level names of every module a piece of source imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_checker_sees_imports() -> None:
    # Guards the test below against a checker that finds nothing.
    source = "import flask\nfrom flask.views import View\nimport os.path as p\nfrom . import x\n"
    assert imported_modules(source) == {"flask", "os"}


def test_no_web_imports_in_instruments_source() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert PACKAGE / "scoring.py" in files
    for path in files:
        found = imported_modules(path.read_text(encoding="utf-8")) & FORBIDDEN
        assert not found, f"{path.relative_to(ROOT)} imports {sorted(found)}"


def test_importing_instruments_does_not_load_flask() -> None:
    code = (
        "import sys, instruments, instruments.__main__\n"
        "instruments.load_registry()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'flask', 'werkzeug'}))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
