"""Where a page's time goes: the app in this process, one page asked for many times.

The web bench (bench/web.py) says how fast each page is next to the bare route;
this says why. It reuses (or builds) the web bench's database, runs the app
in-process with the same production settings, and asks for one page N times
through its WSGI entry point: no server, no network, only the app's own work
and its database round trips. It prints the mean milliseconds per request and,
with --profile, the functions that took the most time.

Run: `.venv/bin/python bench/pages.py dashboard couple autosave client -n 300 [--profile]`
(`outcomes -n 5`: the owner's overview of the whole practice takes seconds, not milliseconds.)
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import re
import sys
import time

import harness
import web
from harness import say
from werkzeug.test import EnvironBuilder

PAGES = (
    "healthz",
    "healthz-signed-in",
    "dashboard",
    "couple",
    "autosave",
    "baseline",
    "client",
    "welcome",
    "outcomes",
)
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
BASE = "https://localhost"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", help=f"any of {', '.join(PAGES)} (default all)")
    parser.add_argument("-n", type=int, default=300, help="requests per page (default 300)")
    parser.add_argument("--profile", action="store_true", help="print the top functions by cumulative time")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--echo", action="store_true", help="print each page's SQL and pool events for one request")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key: cumulative (default), tottime, …")
    args = parser.parse_args()
    unknown = set(args.pages) - set(PAGES)
    if unknown:
        parser.error(f"unknown page(s): {', '.join(sorted(unknown))}; choose from {', '.join(PAGES)}")
    args.pages = args.pages or list(PAGES)

    env, _ = web.prepare(reuse=True, redis=False)
    raw_token, couple_id, invitation_id = web.partner_link(env)
    harness.use_env({**env, "BASELINE_INVITATION_ID": str(invitation_id)})
    import baseline  # bench/baseline.py: autosave's write alone, on a bare Flask app

    from clinic import create_app

    app = create_app()
    owner = app.test_client()
    # One user agent throughout, as a browser keeps (Flask-Login's session protection
    # marks a session stale, and so rewrites its cookie, when the agent changes).
    owner.environ_base["HTTP_USER_AGENT"] = harness.USER_AGENT
    page = owner.get("/signin", base_url=BASE).get_data(as_text=True)
    token = CSRF_META.search(page).group(1)
    reply = owner.post(
        "/signin",
        data={"email": harness.DEMO_EMAIL, "password": harness.DEMO_PASSWORD, "csrf_token": token},
        base_url=BASE,
        headers={"Referer": BASE + "/signin"},
    )
    assert reply.status_code == 302, reply.status_code
    owner.get("/couples/", base_url=BASE)  # a page first, as a browser would: the session gets its CSRF token
    partner = app.test_client()
    partner.environ_base["HTTP_USER_AGENT"] = harness.USER_AGENT
    assert partner.get(f"/l/{raw_token}", base_url=BASE).status_code == 302
    client_page = partner.get(web.CLIENT_PAGE, base_url=BASE)
    assert client_page.status_code == 200, client_page.status_code
    missing = [m for m in web.CLIENT_PAGE_MARKERS if m not in client_page.get_data(as_text=True)]
    assert not missing, f"{web.CLIENT_PAGE} is not the client page: {missing} missing"
    csrf = CSRF_META.search(client_page.get_data(as_text=True)).group(1)
    body = json.dumps({"instrument": "connection", "item": "heard_1", "value": 4})

    # The pages are then driven as a WSGI server would: one environ per page, built once
    # with the browsers' cookies, copied per request (the test client's own bookkeeping
    # would otherwise be most of a small page's time).
    headers_seen: list = []

    def wsgi_call(browser, method: str, path: str, body: bytes = b"", headers: dict | None = None):
        cookies = "; ".join(f"{c.key}={c.value}" for c in browser._cookies.values())
        environ = EnvironBuilder(
            path=path,
            method=method,
            base_url=BASE,
            data=body,
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
            headers={
                "Cookie": cookies,
                "User-Agent": harness.USER_AGENT,
                "Referer": BASE + web.CLIENT_PAGE,
                **(headers or {}),
            },
        ).get_environ()

        wsgi_app = browser.application

        def call():
            env = dict(environ, **{"wsgi.input": io.BytesIO(body)})
            status = []
            chunks = wsgi_app(env, lambda s, h, exc=None: status.append(s) or headers_seen.append(h))
            for _ in chunks:
                pass
            getattr(chunks, "close", lambda: None)()
            return int(status[0].split()[0])

        return call

    json_headers = {"Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json"}
    calls = {
        "healthz": wsgi_call(app.test_client(), "GET", "/healthz"),  # no cookies, as bench/web.py asks
        "healthz-signed-in": wsgi_call(owner, "GET", "/healthz"),  # what a clinician's session costs
        "dashboard": wsgi_call(owner, "GET", "/couples/"),
        "couple": wsgi_call(owner, "GET", f"/couples/{couple_id}"),
        "autosave": wsgi_call(partner, "POST", "/q/autosave", body.encode(), json_headers),
        "baseline": wsgi_call(baseline.app.test_client(), "POST", "/save", body.encode(), json_headers),
        "client": wsgi_call(partner, "GET", web.CLIENT_PAGE),
        "welcome": wsgi_call(partner, "GET", "/q"),
        # The owner's outcomes overview of the whole practice (every couple answered twice or more, counted).
        "outcomes": wsgi_call(owner, "GET", "/outcomes/?start="),
    }
    for name in args.pages:
        call = calls[name]
        for _ in range(min(20, args.n)):  # warm caches and connections
            status = call()
            assert status == 200, f"{name}: {status}"
        if args.echo:
            echo(app, name, call)
            say("   response headers: " + ", ".join(k for k, _ in headers_seen[-1]))
            serializer = app.session_interface.get_signing_serializer(app)
            for k, v in headers_seen[-1]:
                if k == "Set-Cookie":
                    say(
                        "   set-cookie: session keys "
                        + ", ".join(sorted(serializer.loads(v.split(";")[0].split("=", 1)[1])))
                    )
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        for _ in range(args.n):
            call()
        if profiler:
            profiler.disable()
        ms = 1000 * (time.perf_counter() - started) / args.n
        say(f"{name:<18} {ms:7.2f} ms per request ({args.n} requests{', profiled' if profiler else ''})")
        if profiler:
            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.sort_stats(args.sort).print_stats(args.top)
    return 0


def echo(app, name: str, call) -> None:
    """One request of a page, with every statement and connection-pool event it causes."""
    import sqlalchemy as sa

    from clinic.extensions import db

    with app.app_context():
        engine = db.engine
    events = []

    def statement(conn, cursor, text, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def statement_done(conn, cursor, text, parameters, context, executemany):
        ms = 1000 * (time.perf_counter() - conn.info.pop("bench_started"))
        events.append(f"SQL  {ms:5.2f} ms  " + " ".join(text.split())[:140])

    def pool_event(kind):
        return lambda *args: events.append("pool " + kind)

    listeners = [(engine, "before_cursor_execute", statement), (engine, "after_cursor_execute", statement_done)]
    listeners += [(engine.pool, kind, pool_event(kind)) for kind in ("checkout", "checkin", "reset")]
    for target, kind, fn in listeners:
        sa.event.listen(target, kind, fn)
    try:
        call()
    finally:
        for target, kind, fn in listeners:
            sa.event.remove(target, kind, fn)
    say(f"-- {name}: {sum(e.startswith('SQL') for e in events)} statements")
    for line in events:
        say("   " + line)


if __name__ == "__main__":
    sys.exit(main())
