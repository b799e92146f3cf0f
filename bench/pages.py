"""Where a page's time goes: the app in this process, one page asked for many times.

The web bench (bench/web.py) says how fast each page is next to the bare route;
this says why. It reuses (or builds) the web bench's database, runs the app
in-process with the same production settings, and asks for one page N times
through Flask's test client: no server, no network, only the app's own work
and its database round trips. It prints the mean milliseconds per request and,
with --profile, the functions that took the most time.

Run: `.venv/bin/python bench/pages.py dashboard couple autosave client -n 300 [--profile]`
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import re
import sys
import time

import harness
import web
from harness import say

PAGES = ("healthz", "dashboard", "couple", "autosave", "client", "welcome")
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
BASE = "https://localhost"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", help=f"any of {', '.join(PAGES)} (default all)")
    parser.add_argument("-n", type=int, default=300, help="requests per page (default 300)")
    parser.add_argument("--profile", action="store_true", help="print the top functions by cumulative time")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--sort", default="cumulative", help="pstats sort key: cumulative (default), tottime, …")
    args = parser.parse_args()
    unknown = set(args.pages) - set(PAGES)
    if unknown:
        parser.error(f"unknown page(s): {', '.join(sorted(unknown))}; choose from {', '.join(PAGES)}")
    args.pages = args.pages or list(PAGES)

    env, _ = web.prepare(reuse=True, redis=False)
    raw_token, couple_id = web.partner_link(env)
    harness.use_env(env)
    from clinic import create_app

    app = create_app()
    owner = app.test_client()
    page = owner.get("/signin", base_url=BASE).get_data(as_text=True)
    token = CSRF_META.search(page).group(1)
    reply = owner.post(
        "/signin",
        data={"email": harness.DEMO_EMAIL, "password": harness.DEMO_PASSWORD, "csrf_token": token},
        base_url=BASE,
        headers={"Referer": BASE + "/signin"},
    )
    assert reply.status_code == 302, reply.status_code
    partner = app.test_client()
    assert partner.get(f"/l/{raw_token}", base_url=BASE).status_code == 302
    csrf = CSRF_META.search(partner.get("/q/connection", base_url=BASE).get_data(as_text=True)).group(1)
    body = json.dumps({"instrument": "connection", "item": "heard_1", "value": 4})

    calls = {
        "healthz": lambda: owner.get("/healthz", base_url=BASE),
        "dashboard": lambda: owner.get("/couples/", base_url=BASE),
        "couple": lambda: owner.get(f"/couples/{couple_id}", base_url=BASE),
        "autosave": lambda: partner.post(
            "/q/autosave",
            data=body,
            base_url=BASE,
            headers={
                "Content-Type": "application/json",
                "X-CSRFToken": csrf,
                "Referer": BASE + "/q/connection",
                "Accept": "application/json",
            },
        ),
        "client": lambda: partner.get("/q/connection", base_url=BASE),
        "welcome": lambda: partner.get("/q", base_url=BASE),
    }
    for name in args.pages:
        call = calls[name]
        for _ in range(20):  # warm caches and connections
            status = call().status_code
            assert status == 200, f"{name}: {status}"
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        for _ in range(args.n):
            call()
        if profiler:
            profiler.disable()
        ms = 1000 * (time.perf_counter() - started) / args.n
        say(f"{name:<10} {ms:7.2f} ms per request ({args.n} requests{', profiled' if profiler else ''})")
        if profiler:
            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
