"""Benchmark: render the demo couple's standard session-prep report, repeatedly.

Prints the median render time (goal <= 0.8 s on 2 cores), the share of time spent
outside WeasyPrint (goal <= 20 %), the time of a cached hit, and memory over 50
renders in one process (goal: growth < 50 MB). Run: `.venv/bin/python bench/report.py`
(a throwaway SQLite database; set DATABASE_URL to use PostgreSQL).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RENDERS = 20
MEMORY_RENDERS = 50


def rss_mb() -> tuple[float, float]:
    """Current and peak resident memory of this process, in MB (Linux /proc)."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def main() -> int:
    workdir = tempfile.mkdtemp(prefix="tandem-bench-")
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir}/bench.db"
    from flask import render_template
    from flask_migrate import upgrade

    import clinic.reports.pdf as pdf
    from clinic import create_app
    from clinic.config import DevelopmentConfig, database_url
    from clinic.extensions import db
    from clinic.models import Clinician, Couple, Practice, ReportKind, ReportStatus
    from clinic.reports import jobs
    from clinic.reports.context import build_context
    from clinic.results import load_couple_results

    config = type("BenchConfig", (DevelopmentConfig,), {"SQLALCHEMY_DATABASE_URI": database_url(url)})
    app = create_app(config)
    with app.app_context():
        upgrade()
        runner = app.test_cli_runner()
        runner.invoke(args=["seed-demo", "--if-empty"])
        couple = db.session.scalar(db.select(Couple).where(Couple.label == "L & R"))
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

        one_render()  # warm-up: fonts, caches
        runs = [one_render() for _ in range(RENDERS)]
        median_total = statistics.median(r["total"] for r in runs)
        outside = sum(r["total"] - r["weasyprint"] for r in runs) / sum(r["total"] for r in runs)

        # A cached hit: the same data asked for again returns the kept PDF at once.
        report, _ = jobs.request_report(couple, kind=ReportKind.CLINICIAN, appendix=False)
        db.session.commit()
        jobs.render_report(report.id)
        hits = []
        for _ in range(RENDERS):
            t0 = time.perf_counter()
            again, render = jobs.request_report(couple, kind=ReportKind.CLINICIAN, appendix=False)
            hits.append(time.perf_counter() - t0)
            assert not render and again.id == report.id and again.status == ReportStatus.READY
        db.session.rollback()

        before, _ = rss_mb()
        for _ in range(MEMORY_RENDERS):
            one_render()
        after, peak = rss_mb()

    print(
        f"renders: {RENDERS} (after one warm-up), demo couple 'L & R', clinician report, database {url.split(':')[0]}"
    )
    print(f"median render time:           {median_total:.3f} s   (goal <= 0.8 s)")
    parts = {k: statistics.median(r[k] for r in runs) for k in ("load", "context", "template", "weasyprint")}
    print("  median parts:               " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in parts.items()))
    print(f"share of time outside WeasyPrint: {outside * 100:.1f} %   (goal <= 20 %)")
    print(f"cached hit (median):          {statistics.median(hits) * 1000:.1f} ms")
    print(
        f"memory over {MEMORY_RENDERS} renders:       {before:.0f} MB -> {after:.0f} MB "
        f"(growth {after - before:+.1f} MB, peak {peak:.0f} MB; goal: growth < 50 MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
