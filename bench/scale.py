"""Benchmark: the dashboard and search at 100,000 couples, alone and while 4 reports render.

Builds a fresh PostgreSQL database (`tandem_bench_100k`) with the demo practice and
100,000 bulk couples (`seed-demo --couples 100000`, timed), lets PostgreSQL analyze
it, shows the plans of the dashboard and search queries (EXPLAIN ANALYZE of the
exact SQL the view runs), then serves the app under gunicorn (gunicorn.conf.py,
2 sync workers, production settings; see bench/harness.py) and loads it with wrk:

  dashboard, page 1 (the owner: all 100,007 couples)                 p95 < 50 ms
  search by label: a case number (1 match), initials (many), no match p95 < 50 ms
    (issue 15: the initials, two letters as labels write them, "M & D": about 170
    matches, more than a page, p95 under 50 ms at 16 connections)
  dashboard while 4 `flask report-worker` processes render PDFs       p99 < 100 ms

Each is measured at 2 connections (one per worker: the time a request takes, with
100,000 couples behind it) and at 16 (the web bench's load, where requests also
queue for one of the 2 workers). Reports go through Redis and RQ exactly as in
production; the workers run at normal priority, then at `nice -n 19`, the setting
the README recommends when they share a machine with the web workers.

Run: `.venv/bin/python bench/scale.py` (PostgreSQL, Redis and wrk on 127.0.0.1;
`--reuse` keeps an already seeded database).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from urllib.parse import quote_plus

import harness
from harness import Browser, Server, expect, say, wrk

DATABASE = "tandem_bench_100k"
COUPLES = 100_000
SECONDS = 10
P95_GOAL_MS = 50
REPORTS_P99_GOAL_MS = 100
WORKERS = 4
REPORT_JOBS = 160  # more than 4 workers render in one measured window: the queue never runs dry
NICE = 19  # report workers sharing the web machine (README: Scaling)
GOAL_PAGES = ("dashboard", "search: case number", "search: initials", "search: no match")
# A search by initials: two letters, written as the labels write them ("M & D 04217").
INITIALS = "M & D"
assert sum(ch.isalpha() for ch in INITIALS) == 2


def prepare(reuse: bool, redis: bool) -> tuple[dict[str, str], str]:
    if reuse and harness.couple_count(DATABASE) >= COUPLES:
        url = harness.database_url(DATABASE)
        return harness.app_env(url, redis=redis), "reused an existing database"
    url = harness.fresh_database(DATABASE)
    env = harness.app_env(url, redis=redis)
    harness.flask(env, "db", "upgrade")
    started = time.perf_counter()
    output = harness.flask(env, "seed-demo", "--force", "--couples", str(COUPLES)).strip()
    seeded = time.perf_counter() - started
    started = time.perf_counter()
    harness.psql(url, "VACUUM ANALYZE")
    analyzed = time.perf_counter() - started
    say(output)
    return env, f"seed-demo --couples {COUPLES:,}: {seeded:.0f} s (then VACUUM ANALYZE: {analyzed:.0f} s)"


def plan_summary(plan: dict) -> str:
    """The plan's nodes, outermost first, with the index each scan uses."""
    steps = []

    def walk(node: dict) -> None:
        name = node["Node Type"]
        if "Index Name" in node:
            name += f" {node['Index Name']}"
        elif "Relation Name" in node:
            name += f" {node['Relation Name']}"
        steps.append(name)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return " > ".join(steps)


def explain(env: dict[str, str], searches: dict[str, str]) -> dict[str, int]:
    """EXPLAIN ANALYZE the couples query of each dashboard URL, as the view builds it; the couple ids to use."""
    harness.use_env(env)
    import sqlalchemy as sa
    from flask_login import login_user

    from clinic import create_app
    from clinic.extensions import db
    from clinic.models import Clinician, Couple

    app = create_app()
    picked = {}
    with app.app_context():
        owner = db.session.scalar(sa.select(Clinician).where(Clinician.email == harness.DEMO_EMAIL))
        picked["couple"] = db.session.scalar(
            sa.select(Couple.id).where(Couple.label == "L & R", Couple.practice_id == owner.practice_id)
        )
        say("query plans at 100k couples (EXPLAIN ANALYZE of the view's own SQL; warm cache):")
        for name, url in {"dashboard": "/couples/", **searches}.items():
            captured: list[tuple[str, dict]] = []

            def keep(conn, cursor, statement, parameters, context, executemany, captured=captured):
                captured.append((statement, parameters))

            with app.test_request_context(url):
                login_user(owner)
                sa.event.listen(db.engine, "before_cursor_execute", keep)
                try:
                    app.view_functions["couples.index"]()
                finally:
                    sa.event.remove(db.engine, "before_cursor_execute", keep)
            statement, parameters = next((s, p) for s, p in captured if "FROM couple" in s)
            conn = db.session.connection()
            conn.exec_driver_sql(statement, parameters)  # warm
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters).scalar()
            plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
            say(f"  {name:<24} {plan['Execution Time']:7.2f} ms  {plan_summary(plan)}")
            db.session.rollback()
        db.engine.dispose()
    return picked


def queue_reports(env: dict[str, str], n: int) -> list[int]:
    """Ask for n session-prep reports of different couples and hand them to the RQ queue."""
    harness.use_env(env)
    import sqlalchemy as sa

    from clinic import create_app
    from clinic.extensions import db
    from clinic.models import Couple, Report, ReportKind
    from clinic.reports import jobs

    app = create_app()
    with app.app_context():
        # Couples with no report yet: each job renders a new PDF (an unchanged couple's would be a cache hit).
        couples = db.session.scalars(
            sa.select(Couple)
            .where(Couple.label.like("% & % 0%"), ~sa.exists().where(Report.couple_id == Couple.id))
            .order_by(Couple.id)
            .limit(n)
        ).all()
        made = []
        for couple in couples:
            report, render = jobs.request_report(couple, kind=ReportKind.CLINICIAN, appendix=False)
            db.session.commit()
            if render:
                made.append(report.id)
        for report_id in made:
            jobs.enqueue(report_id)
        db.engine.dispose()
    return made


def empty_queue(env: dict[str, str]) -> None:
    from redis import Redis
    from rq import Queue

    Queue(env["REPORT_QUEUE"], connection=Redis.from_url(env["REDIS_URL"])).empty()


def rendering_now(url: str) -> int:
    return harness.psql(url, "SELECT count(*) FROM report WHERE status = 'rendering'")[0][0]


class Workers:
    """`flask --app wsgi report-worker` processes (RQ), started and stopped by their process ids."""

    def __init__(self, env: dict[str, str], count: int, nice: int):
        self.env, self.count, self.nice = env, count, nice
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> Workers:
        command = [str(harness.BIN / "flask"), "--app", "wsgi", "report-worker"]
        if self.nice:
            command = ["nice", "-n", str(self.nice), *command]
        for _ in range(self.count):
            self.processes.append(
                subprocess.Popen(  # noqa: S603 -- our own venv's flask, fixed arguments
                    command, cwd=harness.ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
        return self

    def __exit__(self, *exc) -> None:
        empty_queue(self.env)
        for process in self.processes:  # warm shutdown: finish the report in hand
            process.terminate()
        deadline = time.monotonic() + 60
        for process in self.processes:
            try:
                process.wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def under_reports(
    env: dict[str, str], server: Server, headers: list[str], url: str, nice: int, seconds: int, connections: list[int]
) -> list[tuple[str, harness.Load, float, int]]:
    """Dashboard load while 4 workers render reports; how many rendered at once, and how many finished."""
    out = []
    with Workers(env, WORKERS, nice):
        for conns in connections:
            queue_reports(env, REPORT_JOBS)
            deadline = time.monotonic() + 60
            while rendering_now(url) < WORKERS and time.monotonic() < deadline:
                time.sleep(0.2)
            samples: list[int] = []
            stop = threading.Event()

            def sample(samples=samples, stop=stop):
                while not stop.wait(0.5):
                    samples.append(rendering_now(url))

            before = harness.psql(url, "SELECT count(*) FROM report WHERE status = 'ready'")[0][0]
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            load = wrk(server.base, "dashboard", ["/couples/"], headers=headers, connections=conns, seconds=seconds)
            stop.set()
            sampler.join(timeout=5)
            after = harness.psql(url, "SELECT count(*) FROM report WHERE status = 'ready'")[0][0]
            empty_queue(env)
            mean = sum(samples) / len(samples) if samples else 0.0
            label = f"nice {nice}" if nice else "normal priority"
            out.append((label, load, mean, after - before))
            # Let the reports in hand finish before the next window starts.
            deadline = time.monotonic() + 60
            while rendering_now(url) and time.monotonic() < deadline:
                time.sleep(0.5)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded tandem_bench_100k database")
    parser.add_argument("--seconds", type=int, default=SECONDS, help="measured seconds per run (default 10)")
    args = parser.parse_args()
    seconds = max(2, min(args.seconds, 120))
    started = time.perf_counter()
    redis = harness.redis_available()
    if not redis:
        say("bench: Redis does not answer on 127.0.0.1: the part with report workers (RQ) is skipped.")

    load_before = os.getloadavg()[0]
    env, seed_note = prepare(args.reuse, redis)
    url = env["DATABASE_URL"]
    size = harness.psql(url, "SELECT pg_size_pretty(pg_database_size(current_database()))")[0][0]
    counts = harness.psql(
        url, "SELECT (SELECT count(*) FROM couple), (SELECT count(*) FROM assessment), (SELECT count(*) FROM answer)"
    )[0]
    say(f"database: {counts[0]:,} couples, {counts[1]:,} assessments, {counts[2]:,} answers, {size}")
    count_initials = f"SELECT count(*) FROM couple WHERE label ILIKE '%{INITIALS}%'"  # noqa: S608 -- a constant
    initials = harness.psql(url, count_initials)[0][0]
    say(f"search by initials: {INITIALS!r} (two letters) is in {initials:,} labels")
    searches = {
        "search: case number": "/couples/?q=04217",
        "search: initials": f"/couples/?q={quote_plus(INITIALS)}",
        "search: no match": "/couples/?q=zzqx",
        "status: in progress": "/couples/?status=in_progress",
        "page 400 (offset 20k)": "/couples/?page=400",
    }
    picked = explain(env, searches)

    results: list[tuple[str, harness.Load]] = []
    idle = harness.wait_for_quiet()
    with Server(env, workers=2) as server:
        owner = Browser(server.base)
        owner.sign_in()
        expect(owner.get("/couples/"), 200, 'rel="next"', what="dashboard")
        expect(owner.get(searches["search: case number"]), 200, "04217", what="search")
        expect(owner.get(f"/couples/{picked['couple']}"), 200, "L &amp; R", what="couple view")
        headers = owner.wrk_headers("/couples/")
        for conns in (2, 16):
            for name, path in {"dashboard": "/couples/", **searches}.items():
                if conns > 2 and name not in GOAL_PAGES:
                    continue  # the status filter and the deep page are shown for reference, once
                load = wrk(server.base, name, [path], headers=headers, connections=conns, seconds=seconds)
                say(f"  measured {name} at {conns} connections: {load.rps:,.0f} req/s{harness.errors_note(load)}")
                results.append((name, load))
        reports = []
        for nice in (0, NICE) if redis else ():
            for label, load, mean, done in under_reports(env, server, headers, url, nice, seconds, [2, 16]):
                say(f"  measured dashboard with reports ({label}) at {load.connections} connections")
                reports.append((label, load, mean, done))

    say("")
    say(f"Tandem scale bench: PostgreSQL, {counts[0]:,} couples, gunicorn 2 workers, wrk {seconds} s per run")
    say(seed_note)
    say(
        f"machine: {os.cpu_count()} cores, {100 * idle:.0f} % idle before the runs; "
        f"load average {load_before:.1f} at start, {os.getloadavg()[0]:.1f} at the end"
    )
    say("")
    say(f"{'page':<24}{'conns':>6}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  goal")
    for name, load in results:
        goal = ("p95 ok" if load.p95 < P95_GOAL_MS else "P95 MISSED") if name in GOAL_PAGES else "-"
        say(
            f"{name:<24}{load.connections:>6}{load.rps:>8,.0f}{load.p50:>9.1f}{load.p95:>9.1f}{load.p99:>9.1f}  "
            f"{goal}{harness.errors_note(load)}"
        )
    say(f"(goal: dashboard and search p95 < {P95_GOAL_MS} ms; status filter and deep page shown for reference)")
    say("")
    if not redis:
        say("dashboard while reports render: skipped (no Redis on 127.0.0.1)")
    say(f"dashboard while {WORKERS} report-worker processes render (RQ via Redis):")
    say(f"{'workers':<18}{'conns':>6}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'rendering':>11}{'PDFs done':>11}  goal")
    for label, load, mean, done in reports:
        goal = "p99 ok" if load.p99 < REPORTS_P99_GOAL_MS else "P99 MISSED"
        say(
            f"{label:<18}{load.connections:>6}{load.rps:>8,.0f}{load.p50:>9.1f}{load.p99:>9.1f}{mean:>11.1f}"
            f"{done:>11}  {goal}{harness.errors_note(load)}"
        )
    say(f"(rendering: mean reports rendering at once during the window; goal p99 < {REPORTS_P99_GOAL_MS} ms)")
    say(f"total bench time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
