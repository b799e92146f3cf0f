"""Benchmark: the pages people wait on, as a share of a bare route served by the same app.

Builds a fresh PostgreSQL database (`tandem_bench`), adds the demo practice and
2,000 bulk couples (`seed-demo --couples 2000`), starts the app under gunicorn
(gunicorn.conf.py, 2 sync workers, production settings behind a pretend TLS
proxy: see bench/harness.py), and loads it with wrk from a second process, 16
connections, 10 s per page after a 2 s warm-up. Prints requests/second as a
share of /healthz (which touches nothing), and p50/p99 latency, next to the goals:

  dashboard (page 1: 50 of about 2,000 couples; the owner sees all)  >= 15 %
  couple view (the demo couple with two intake-set assessments)      >= 10 %
  autosave (POST JSON, CSRF header, a partner's session cookie)      >= 40 %
  client page (the first questionnaire page: 5 of connection's 38)  >= 25 %
  and p99 under 50 ms for each.

Two goals of issue 15 are printed on their own, below the table:

  autosave (one answer, JSON {instrument, item, value}) reaches at least 75 % of the
  requests per second of its baseline, bench/baseline.py: a bare Flask route on the same
  database that does only the same one-row answer upsert (INSERT … ON CONFLICT DO UPDATE
  on the answer table, committed), served the same way (a second gunicorn with the same
  gunicorn.conf.py and 2 workers, wrk 16 connections), measured in the same run just
  before and after autosave (the baseline figure is the mean of those two runs);
  the couple view's p99 is under 50 ms at 16 connections.

Run: `.venv/bin/python bench/web.py` (needs PostgreSQL on 127.0.0.1 and wrk;
Redis on 127.0.0.1 is used when it answers, as in production).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

import harness  # bench/harness.py: Python puts the script's folder first on sys.path
from harness import Browser, Server, expect, say, wrk

DATABASE = "tandem_bench"
COUPLES = 2000
CONNECTIONS = 16
SECONDS = 10
GOALS = {"dashboard": 15, "couple view": 10, "autosave": 40, "client page": 25}
P99_GOAL_MS = 50
BASELINE_GOAL = 75  # autosave's req/s as a share of the baseline's (bench/baseline.py), at least
COUPLE_VIEW_P99_GOAL_MS = 50  # at CONNECTIONS connections
AUTOSAVE_BODY = b'{"instrument": "connection", "item": "heard_1", "value": 4}'
AUTOSAVE_ITEMS = "connection:heard_1,affection_1,sharing_1,withdrawal_1,kindness_1,rituals_1,pursuing_1"
# The partner's pages are addressed by place, never by questionnaire: /q/1 is the first page of
# the first questionnaire of the intake set (connection), which holds heard_1.
CLIENT_PAGE = "/q/1"
CLIENT_PAGE_MARKERS = ('data-item="heard_1"', "Feeling close", "Page 1 of")


def prepare(reuse: bool, redis: bool) -> tuple[dict[str, str], float | None]:
    """A database with the demo practice and the bulk couples; returns the app's env and the seed time."""
    if reuse and harness.couple_count(DATABASE) >= COUPLES:
        url = harness.database_url(DATABASE)
        return harness.app_env(url, redis=redis), None
    url = harness.fresh_database(DATABASE)
    env = harness.app_env(url, redis=redis)
    harness.flask(env, "db", "upgrade")
    started = time.perf_counter()
    say(harness.flask(env, "seed-demo", "--force", "--couples", str(COUPLES)).strip())
    seeded = time.perf_counter() - started
    harness.psql(url, "VACUUM ANALYZE")
    return env, seeded


def partner_link(env: dict[str, str]) -> tuple[str, int, int]:
    """A fresh intake-set link for a new couple's partner A (made through the services): the raw
    token, the demo couple's id (for the couple view) and the link's invitation id (the baseline's)."""
    harness.use_env(env)
    import sqlalchemy as sa

    from clinic import create_app
    from clinic.extensions import db
    from clinic.models import Clinician, Couple, Invitation, Partner
    from clinic.services import couples, invitations

    app = create_app()
    with app.app_context():
        owner = db.session.scalar(sa.select(Clinician).where(Clinician.email == harness.DEMO_EMAIL))
        couple = couples.create_couple(
            owner.practice,
            owner,
            label="Bench partner page",
            partners=[couples.PartnerDetails("Robin Bench"), couples.PartnerDetails("Sasha Bench")],
        )
        _, tokens = invitations.start_assessment(
            couple, occasion="Intake", instrument_ids=list(invitations.INTAKE), expiry_days=14, by=owner
        )
        db.session.commit()
        first = db.session.scalar(sa.select(Partner.id).where(Partner.couple_id == couple.id, Partner.position == 1))
        invitation_id = db.session.scalar(sa.select(Invitation.id).where(Invitation.partner_id == first))
        two = db.session.scalar(
            sa.select(Couple.id).where(Couple.label == "L & R", Couple.practice_id == owner.practice_id)
        )
        total = db.session.scalar(sa.select(sa.func.count()).select_from(Couple))
        db.engine.dispose()
    say(f"database: {total:,} couples in the demo practice; couple view: the demo couple 'L & R' (id {two})")
    return tokens[first], two, invitation_id


PAGES = ("dashboard", "couple view", "autosave", "client page", "client welcome")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded tandem_bench database")
    parser.add_argument("--seconds", type=int, default=SECONDS, help="measured seconds per page (default 10)")
    parser.add_argument(
        "--only", action="append", choices=PAGES, help="measure only this page (repeat for more; default all)"
    )
    args = parser.parse_args()
    seconds = max(2, min(args.seconds, 120))
    wanted = set(args.only or PAGES)
    started = time.perf_counter()

    load_before = os.getloadavg()[0]
    redis = harness.redis_available()
    env, seeded = prepare(args.reuse, redis)
    raw_token, couple_id, invitation_id = partner_link(env)
    baseline_env = {**env, "BASELINE_INVITATION_ID": str(invitation_id)}

    with Server(env, workers=2) as server, Server(baseline_env, workers=2, app="bench.baseline:app") as baseline:
        owner = Browser(server.base)
        owner.sign_in()
        page = owner.get("/couples/")
        expect(page, 200, 'rel="next"', what="dashboard")
        shown = len(set(re.findall(r'href="/couples/(\d+)"', page.text)))
        expect(owner.get(f"/couples/{couple_id}"), 200, "L &amp; R", "Week 8", what="couple view")

        partner = Browser(server.base)
        partner.open_link(raw_token)
        csrf = partner.csrf(CLIENT_PAGE)
        expect(partner.get(CLIENT_PAGE), 200, *CLIENT_PAGE_MARKERS, what="client page")
        expect(partner.get("/q"), 200, "Feeling close", what="client welcome")
        json_headers = {"Content-Type": "application/json", "X-CSRFToken": csrf}
        expect(partner.request("POST", "/q/autosave", AUTOSAVE_BODY, json_headers), 200, '"saved"', what="autosave")
        autosave_headers = partner.wrk_headers(CLIENT_PAGE, {**json_headers, "Accept": "application/json"})
        plain = Browser(baseline.base)
        json_only = {"Content-Type": "application/json"}
        expect(plain.request("POST", "/save", AUTOSAVE_BODY, json_only), 200, '"saved"', what="baseline")
        baseline_headers = plain.wrk_headers("/save", {**json_only, "Accept": "application/json"})

        def run(name, base, paths, headers, **kw):
            load = wrk(base, name, paths, headers=headers, connections=CONNECTIONS, seconds=seconds, **kw)
            say(f"  measured {name}: {load.rps:,.0f} req/s{harness.errors_note(load)}")
            return load

        def bare():
            return run("bare /healthz", server.base, ["/healthz"], [], warmup=1)

        def upsert_only():
            # The same bodies as autosave (wrk.lua cycles the same items and values).
            answers = {"method": "POST", "answers": AUTOSAVE_ITEMS}
            return run("baseline upsert", baseline.base, ["/save"], baseline_headers, **answers)

        idle = harness.wait_for_quiet()
        say(f"gunicorn: 2 sync workers on {server.base}; wrk: {CONNECTIONS} connections, {seconds} s per page")
        say(f"baseline (bench/baseline.py): gunicorn, the same gunicorn.conf.py, 2 sync workers on {baseline.base}")
        # The bare route is measured next to every page (before and after it), so a change in
        # what else the machine is doing moves the floor and the page together; the baseline
        # is measured just before and after autosave for the same reason.
        pages = [
            ("dashboard", ["/couples/"], owner.wrk_headers("/couples/"), {}),
            ("couple view", [f"/couples/{couple_id}"], owner.wrk_headers(f"/couples/{couple_id}"), {}),
            ("autosave", ["/q/autosave"], autosave_headers, {"method": "POST", "answers": AUTOSAVE_ITEMS}),
            ("client page", [CLIENT_PAGE], partner.wrk_headers(CLIENT_PAGE), {}),
            ("client welcome", ["/q"], partner.wrk_headers("/q"), {}),
        ]
        floors = [bare()]
        loads = []
        baselines = []
        for name, paths, headers, kw in pages:
            if name not in wanted:
                continue
            if name == "autosave":
                baselines.append(upsert_only())
            loads.append(run(name, server.base, paths, headers, **kw))
            if name == "autosave":
                baselines.append(upsert_only())
            floors.append(bare())
    load_after = os.getloadavg()[0]

    say("")
    say(
        f"Tandem web bench: PostgreSQL, {COUPLES:,} bulk couples + the demo couples, gunicorn 2 sync workers, "
        f"wrk {CONNECTIONS} connections, {seconds} s per page, Redis {'on' if redis else 'off'}"
    )
    say(
        f"machine: {os.cpu_count()} cores, {100 * idle:.0f} % idle before the runs; "
        f"load average {load_before:.1f} before, {load_after:.1f} after"
    )
    if seeded is not None:
        say(f"seed-demo --couples {COUPLES}: {seeded:.1f} s")
    say(f"dashboard page shows {shown} couples (page 1)")
    say("")
    say(f"{'page':<16}{'req/s':>8}{'bare req/s':>12}{'% of bare':>11}{'goal':>7}{'p50 ms':>9}{'p99 ms':>9}  verdict")
    for n, load in enumerate(loads):
        floor = (floors[n].rps + floors[n + 1].rps) / 2
        share = 100 * load.rps / floor
        goal = GOALS.get(load.name)
        met = []
        if goal is not None:
            met.append("share ok" if share >= goal else "SHARE MISSED")
        met.append("p99 ok" if load.p99 < P99_GOAL_MS else "P99 MISSED")
        goal_text = f">={goal}%" if goal is not None else "-"
        say(
            f"{load.name:<16}{load.rps:>8,.0f}{floor:>12,.0f}{share:>10.1f}%{goal_text:>7}{load.p50:>9.1f}"
            f"{load.p99:>9.1f}  {', '.join(met)}{harness.errors_note(load)}"
        )
    bare_p50 = sorted(f.p50 for f in floors)[len(floors) // 2]
    bare_p99 = sorted(f.p99 for f in floors)[len(floors) // 2]
    say(
        f"{'bare /healthz':<16}{'':>8}{sum(f.rps for f in floors) / len(floors):>12,.0f}{'':>11}{'':>7}"
        f"{bare_p50:>9.1f}{bare_p99:>9.1f}  (mean of {len(floors)} runs; median p50/p99)"
    )
    say(f"(bare req/s: mean of the /healthz runs just before and after the page; p99 goal < {P99_GOAL_MS} ms)")
    by_name = {load.name: load for load in loads}
    if "autosave" in by_name:
        autosave = by_name["autosave"]
        rps = sum(b.rps for b in baselines) / len(baselines)
        share = 100 * autosave.rps / rps
        verdict = "ok" if share >= BASELINE_GOAL else "MISSED"
        say("")
        say(
            f"autosave against its baseline (bench/baseline.py: a bare Flask route doing only the same one-row "
            f"upsert; same gunicorn.conf.py, 2 sync workers, wrk {CONNECTIONS} connections, same run):"
        )
        say(f"{'':<26}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}")
        for label, load in zip(("baseline, before", "baseline, after"), baselines, strict=True):
            say(f"{label:<26}{load.rps:>8,.0f}{load.p50:>9.1f}{load.p99:>9.1f}{harness.errors_note(load)}")
        say(f"{'baseline (mean)':<26}{rps:>8,.0f}")
        say(f"{'autosave (one answer)':<26}{autosave.rps:>8,.0f}{autosave.p50:>9.1f}{autosave.p99:>9.1f}")
        say(f"autosave: {share:.1f} % of the baseline's req/s (goal >= {BASELINE_GOAL} %): {verdict}")
    if "couple view" in by_name:
        couple = by_name["couple view"]
        verdict = "ok" if couple.p99 < COUPLE_VIEW_P99_GOAL_MS else "MISSED"
        say(
            f"couple view: p99 {couple.p99:.1f} ms at {CONNECTIONS} connections "
            f"(goal < {COUPLE_VIEW_P99_GOAL_MS} ms): {verdict}"
        )
    say(f"total bench time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
