"""Benchmark: render the demo couple's standard session-prep report, warm and cold.

Prints, beside each goal:
- warm: the median render time over -n renders in one process (goal <= 0.8 s on
  2 cores) and the share of it spent outside WeasyPrint (goal <= 20 %); this is
  the in-process pool, and any worker after its first job;
- cold: the first render in a process, with reading and scoring the answers:
  (a) a job forked from a report worker that loaded the app and WeasyPrint
  before forking (what every `rq worker -w clinic.reports.jobs.ReportWorker` job
  pays), (b) a fresh interpreter, whose imports and app setup are shown apart;
- a cached hit (the same data asked for again returns the kept PDF);
- memory over --memory-renders renders in one process: the peak resident size
  during them minus the size before (goal: growth < 50 MB).

Run: `.venv/bin/python bench/report.py [-n 20] [--memory-renders 50]` (a throwaway
SQLite database; set DATABASE_URL to use PostgreSQL). The machine's load average
is printed at the start and the end: the figures are only as quiet as the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GOAL_MEDIAN = 0.8  # seconds
GOAL_OUTSIDE = 0.20  # share of a render spent outside WeasyPrint
GOAL_GROWTH = 50  # MB
PARTS = ("load", "context", "template", "weasyprint")
LABEL = "L & R"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("-n", "--renders", type=int, default=20, help="timed warm renders (default 20)")
    parser.add_argument(
        "--memory-renders", type=int, default=50, help="renders in one process for the memory figure (default 50)"
    )
    parser.add_argument("--cold-child", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.renders < 1 or args.memory_renders < 1:
        parser.error("render counts must be at least 1")
    return args


def rss_mb() -> float:
    """Current resident memory of this process, in MB (Linux /proc)."""
    return _status("VmRSS")


def peak_mb() -> float:
    """Peak resident memory of this process since start or since reset_peak(), in MB."""
    return _status("VmHWM")


def _status(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name == key:
            return int(rest.split()[0]) / 1024
    raise RuntimeError(f"{key} not in /proc/self/status")


def reset_peak() -> bool:
    """Set the peak resident size back to the current size (Linux >= 4.0); False if refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def make_app(url: str):
    from clinic import create_app
    from clinic.config import DevelopmentConfig, database_url

    config = type("BenchConfig", (DevelopmentConfig,), {"SQLALCHEMY_DATABASE_URI": database_url(url)})
    return create_app(config)


def renderer(app):
    """A function timing one render of the demo couple's clinician report, part by part."""
    from flask import render_template

    import clinic.reports.pdf as pdf
    from clinic.extensions import db
    from clinic.models import Clinician, Couple, Practice
    from clinic.reports.context import build_context
    from clinic.results import load_couple_results

    couple = db.session.scalar(db.select(Couple).where(Couple.label == LABEL))
    practice = db.session.get(Practice, couple.practice_id)
    clinician = db.session.get(Clinician, couple.clinician_id)

    def one_render() -> dict[str, float]:
        t0 = time.perf_counter()
        results = load_couple_results(couple)
        t1 = time.perf_counter()
        ctx = build_context(
            results,
            practice=practice,
            clinician=clinician,
            kind="clinician",
            appendix=False,
            generated_at=couple.created_at,
        )
        t2 = time.perf_counter()
        html = render_template(pdf.TEMPLATES["clinician"], report=pdf._template_context(ctx))
        t3 = time.perf_counter()
        document = pdf.weasyprint.HTML(string=html, base_url=pdf.BASE_URL, url_fetcher=pdf.safe_fetcher)
        data = document.write_pdf()
        t4 = time.perf_counter()
        assert data.startswith(b"%PDF")
        return {"load": t1 - t0, "context": t2 - t1, "template": t3 - t2, "weasyprint": t4 - t3, "total": t4 - t0}

    return couple, one_render


def outside(runs: list[dict[str, float]]) -> float:
    return sum(r["total"] - r["weasyprint"] for r in runs) / sum(r["total"] for r in runs)


def cold_child(url: str) -> None:
    """In a fresh interpreter: import, build the app, render once; print the times as JSON."""
    t0 = time.perf_counter()
    from clinic import create_app  # noqa: F401 -- timed: the app's imports

    t1 = time.perf_counter()
    app = make_app(url)
    t2 = time.perf_counter()
    import clinic.reports.pdf  # noqa: F401 -- timed: WeasyPrint's import

    t3 = time.perf_counter()
    with app.app_context():
        _, one_render = renderer(app)
        first = one_render()
    print(json.dumps({"imports": t1 - t0, "app": t2 - t1, "weasyprint_import": t3 - t2, "render": first}))


def fork_cold(app) -> dict[str, float]:
    """One render in a process forked from this one, as a ReportWorker forks a job: app and
    WeasyPrint loaded before the fork, nothing about the couple read or kept yet."""
    from clinic import memo
    from clinic.extensions import db

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the job
        os.close(read)
        code = 0
        try:
            with app.app_context():
                memo.init_app(app)  # nothing kept from the renders before
                db.engine.dispose(close=False)
                _, one_render = renderer(app)
                os.write(write, json.dumps(one_render()).encode())
        except BaseException:
            code = 1
        finally:
            os.close(write)
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        raise RuntimeError("the forked render failed")
    return json.loads(data)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cold_child:
        cold_child(args.cold_child)
        return 0
    print(f"start: {load()}")
    workdir = tempfile.mkdtemp(prefix="tandem-bench-")
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir}/bench.db"
    from flask_migrate import upgrade

    from clinic.extensions import db
    from clinic.models import ReportKind, ReportStatus
    from clinic.reports import jobs

    app = make_app(url)
    with app.app_context():
        upgrade()
        app.test_cli_runner().invoke(args=["seed-demo", "--if-empty"])
        db.session.remove()
        # What a ReportWorker does before it forks: WeasyPrint, fonts, templates.
        jobs.preload(app)
    forked = [fork_cold(app) for _ in range(3)]

    fresh = subprocess.run(  # noqa: S603 -- this script, with a database URL it made
        [sys.executable, __file__, "--cold-child", url], capture_output=True, text=True, check=True, cwd=ROOT
    )
    fresh_times = json.loads(fresh.stdout.strip().splitlines()[-1])

    with app.app_context():
        couple, one_render = renderer(app)
        first = one_render()  # the first in this process (after the preload above)
        runs = [one_render() for _ in range(args.renders)]

        # A cached hit: the same data asked for again returns the kept PDF at once.
        report, _ = jobs.request_report(couple, kind=ReportKind.CLINICIAN, appendix=False)
        db.session.commit()
        jobs.render_report(report.id)
        hits = []
        for _ in range(args.renders):
            t0 = time.perf_counter()
            again, render = jobs.request_report(couple, kind=ReportKind.CLINICIAN, appendix=False)
            hits.append(time.perf_counter() - t0)
            assert not render and again.id == report.id and again.status == ReportStatus.READY
        db.session.rollback()

        before = rss_mb()
        exact_peak = reset_peak()
        sampled = before
        for _ in range(args.memory_renders):
            one_render()
            sampled = max(sampled, rss_mb())
        after = rss_mb()
        peak = max(peak_mb(), sampled) if exact_peak else sampled

    median = statistics.median(r["total"] for r in runs)
    parts = {k: statistics.median(r[k] for r in runs) for k in PARTS}

    def line(label: str, value: str, goal: str = "") -> None:
        print(f"  {label:<34} {value:<22} {goal}")

    def shares(run: dict[str, float]) -> str:
        return ", ".join(f"{k} {run[k] * 1000:.0f} ms" for k in PARTS)

    print(f"demo couple {LABEL!r}, clinician report, database {url.split(':')[0]}")
    print(f"warm: {args.renders} renders in one process (after its first)")
    line("median render time", f"{median:.3f} s", f"goal <= {GOAL_MEDIAN} s")
    line("share outside WeasyPrint", f"{outside(runs) * 100:.1f} %", f"goal <= {GOAL_OUTSIDE * 100:.0f} %")
    line("median parts", shares(parts))
    line("first render in this process", f"{first['total']:.3f} s", "(after the worker's preload)")
    print("cold: the first render in a new process, reading and scoring the answers too")
    fork_median = {k: statistics.median(r[k] for r in forked) for k in (*PARTS, "total")}
    line(f"forked job (median of {len(forked)})", f"{fork_median['total']:.3f} s", f"goal <= {GOAL_MEDIAN} s")
    line("  share outside WeasyPrint", f"{outside(forked) * 100:.1f} %", f"goal <= {GOAL_OUTSIDE * 100:.0f} %")
    line("  parts", shares(fork_median))
    render = fresh_times["render"]
    start = fresh_times["imports"] + fresh_times["app"] + fresh_times["weasyprint_import"]
    line("fresh interpreter: render", f"{render['total']:.3f} s", f"goal <= {GOAL_MEDIAN} s")
    line("  share outside WeasyPrint", f"{outside([render]) * 100:.1f} %", f"goal <= {GOAL_OUTSIDE * 100:.0f} %")
    line("  parts", shares(render))
    line(
        "  before it: start-up",
        f"{start:.3f} s",
        f"(app imports {fresh_times['imports']:.2f} s, create_app {fresh_times['app']:.2f} s, "
        f"WeasyPrint import {fresh_times['weasyprint_import']:.2f} s; a worker pays it once)",
    )
    print("cached hit")
    line("median", f"{statistics.median(hits) * 1000:.1f} ms")
    print(f"memory over {args.memory_renders} renders in one process")
    line(
        "peak growth",
        f"{peak - before:+.1f} MB",
        f"goal < {GOAL_GROWTH} MB (before {before:.0f} MB, peak {peak:.0f} MB, after {after:.0f} MB; "
        + ("peak from VmHWM)" if exact_peak else "peak sampled after each render)"),
    )
    print(f"end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
