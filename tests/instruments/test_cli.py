"""`python -m instruments check [folder]`: one line per file, exit 1 on a broken file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from instruments.__main__ import main

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parents[2]


def test_clean_folder_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(FIXTURES)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ok    tiny-v1.yaml: Tiny test instrument (9 items, 3 subscales)",
        "ok    tiny-v2.yaml: Tiny test instrument (9 items, 3 subscales)",
    ]


def test_broken_folder_exits_1_with_exact_messages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(FIXTURES / "broken")]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "error badscale-v1.yaml: items[3] (heard_4).scale: unknown scale 'agree7'",
        "error badyaml-v1.yaml: invalid YAML (line 6): expected ',' or '}', but got '<stream end>'",
        "error dupkey-v1.yaml: invalid YAML (line 20): duplicate key 'text'",
        "error misnamed-v1.yaml: id: file name should be other-v1.yaml",
        "error yesno-v1.yaml: scales.yesno.values[0].label: Input should be a valid string "
        "(YAML reads yes/no/on/off as true/false: put it in quotes)",
    ]


def test_one_broken_file_among_good_ones_fails_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("tiny-v1.yaml", "tiny-v2.yaml"):
        (tmp_path / name).write_text((FIXTURES / name).read_text())
    (tmp_path / "badscale-v1.yaml").write_text((FIXTURES / "broken" / "badscale-v1.yaml").read_text())
    assert main(["check", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["error", "ok", "ok"]


def test_empty_folder_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path)]) == 1
    assert capsys.readouterr().out == f"no definition files (*.yaml) in {tmp_path}\n"


def test_a_command_is_required() -> None:
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2


def test_runs_as_a_module() -> None:
    broken = subprocess.run(
        [sys.executable, "-m", "instruments", "check", str(FIXTURES / "broken")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert broken.returncode == 1
    assert "error badscale-v1.yaml: items[3] (heard_4).scale: unknown scale 'agree7'\n" in broken.stdout
    clean = subprocess.run(
        [sys.executable, "-m", "instruments", "check", str(FIXTURES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert clean.returncode == 0
    assert len(clean.stdout.splitlines()) == 2
