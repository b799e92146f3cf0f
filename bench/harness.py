"""What the web benches share: a fresh PostgreSQL database, the app under gunicorn, a
browser that signs in, and wrk runs that come back as numbers.

Everything stays on loopback: the database, Redis and the app server must be on
127.0.0.1 (or ::1 / localhost), and the harness refuses anything else.

The app runs with production settings (TANDEM_ENV=production: Secure __Host-
cookies, HSTS, the production checks) behind a pretend TLS proxy: every request
carries `X-Forwarded-Proto: https` (gunicorn trusts it from 127.0.0.1), so Flask
sees https exactly as behind nginx or Caddy, and the bench's own clients send
cookies back over the plain loopback socket. The keys are bench-only values
derived from the database name (the data is fictional).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
WRK_SCRIPT = Path(__file__).with_name("wrk.lua")
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
USER_AGENT = "tandem-bench/1"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
DEMO_EMAIL = "demo@tandem.example"
DEMO_PASSWORD = "tandem-demo-password"  # noqa: S105 -- the published demo sign-in (clinic/cli.py)
# Settings of the caller's shell that must not leak into the app under test.
CLEARED = ("TANDEM_ENV", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "AUDIT_KEY", "DATA_KEYS", "BASE_URL", "FLASK_DEBUG")


def require_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK:
        sys.exit(f"bench: {url.split('@')[-1]} is not on loopback; the benches only talk to 127.0.0.1.")


def say(message: str) -> None:
    print(message, flush=True)


def cpu_idle(seconds: float = 2.0) -> float:
    """The share of CPU time the whole machine spent idle over the next few seconds (Linux /proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, total

    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return (idle1 - idle0) / max(1, total1 - total0)


def wait_for_quiet(limit: float = 180, idle: float = 0.8) -> float:
    """Wait (at most `limit` seconds) until other work on the machine leaves it mostly idle.

    The benches share the machine with whatever else runs on it; a busy neighbour lowers
    every figure. Returns the idle share measured last, which the benches print.
    """
    deadline = time.monotonic() + limit
    share = cpu_idle()
    while share < idle and time.monotonic() < deadline:
        say(f"  the machine is busy ({100 * (1 - share):.0f} % CPU in use by other work); waiting for it to settle")
        time.sleep(10)
        share = cpu_idle()
    return share


# --- the database -------------------------------------------------------------------------


def database_url(name: str) -> str:
    require_loopback(ADMIN_URL)
    parts = urlsplit(ADMIN_URL)
    return parts._replace(path=f"/{name}").geturl()


def fresh_database(name: str) -> str:
    """Drop and create a database for one bench (only names starting with tandem_bench)."""
    import psycopg

    if not name.startswith("tandem_bench"):
        raise ValueError("bench databases are named tandem_bench*")
    require_loopback(ADMIN_URL)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(name)


def couple_count(name: str) -> int:
    """How many couples a bench database already holds (0 if it does not exist or is not migrated)."""
    import psycopg

    require_loopback(ADMIN_URL)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return 0
    try:
        with psycopg.connect(database_url(name), autocommit=True) as conn:
            return conn.execute("SELECT count(*) FROM couple").fetchone()[0]
    except psycopg.Error:
        return 0


def psql(url: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


# --- the app's environment and commands ---------------------------------------------------


def redis_available() -> bool:
    require_loopback(REDIS_URL)
    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def app_env(db_url: str, *, redis: bool, queue: str = "") -> dict[str, str]:
    """Production settings for the app, its CLI and its workers (bench-only keys)."""
    name = urlsplit(db_url).path.strip("/")
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(
        TANDEM_ENV="production",
        DATABASE_URL=db_url,
        SECRET_KEY=hashlib.sha256(f"tandem-bench-secret:{name}".encode()).hexdigest(),
        AUDIT_KEY=hashlib.sha256(f"tandem-bench-audit:{name}".encode()).hexdigest(),
        DATA_KEYS=base64.urlsafe_b64encode(hashlib.sha256(f"tandem-bench-data:{name}".encode()).digest()).decode(),
        BASE_URL="https://tandem.bench.invalid",
        MAIL_OUTBOX=tempfile.mkdtemp(prefix="tandem-bench-outbox-"),
        PYTHONUNBUFFERED="1",
        # The benches sign in once per run, but runs add up within the hour's sign-in limit.
        SIGNIN_LIMIT="100 per minute",
    )
    if redis:
        env["REDIS_URL"] = REDIS_URL
        env["REPORT_QUEUE"] = queue or f"tandem-bench-{os.getpid()}"
    return env


def flask(env: dict[str, str], *args: str, timeout: float = 1800) -> str:
    """Run `flask --app wsgi ...` with the bench's settings; its output, or exit with it."""
    done = subprocess.run(  # noqa: S603 -- our own venv's flask, arguments from the bench itself
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"bench: flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def use_env(env: dict[str, str]) -> None:
    """Make this process's own app (setup steps, EXPLAIN) read the same settings; call before importing clinic."""
    for key in CLEARED:
        os.environ.pop(key, None)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))


# --- the app server ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn with the repository's gunicorn.conf.py, on a free loopback port.

    It serves the app (wsgi:app) unless told another WSGI app: bench/web.py also serves its
    baseline (bench.baseline:app) this way, so both run under exactly the same settings.
    """

    def __init__(self, env: dict[str, str], workers: int = 2, app: str = "wsgi:app"):
        self.app = app
        self.port = free_port()
        self.env = {**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": str(workers)}
        self.log = Path(tempfile.mkstemp(prefix="tandem-bench-gunicorn-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        with self.log.open("w") as log:
            self.process = subprocess.Popen(  # noqa: S603 -- our own venv's gunicorn, fixed arguments
                [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), self.app],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start:\n{self.log.read_text()[-3000:]}")
            try:
                if Browser(self.base).get("/healthz").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError("gunicorn did not answer /healthz within 60 s")

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


# --- a browser ---------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    text: str


class Browser:
    """Just enough of a browser: a cookie jar, CSRF tokens, and the headers a TLS proxy adds."""

    def __init__(self, base: str):
        require_loopback(base)
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.origin = f"https://{parts.netloc}"
        self.cookies: dict[str, str] = {}

    def headers(self, path: str = "/") -> dict[str, str]:
        """What every request of this browser carries (wrk sends the same)."""
        headers = {
            "User-Agent": USER_AGENT,
            "X-Forwarded-Proto": "https",
            "Referer": self.origin + path,
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> Response:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers={**self.headers(path), **(headers or {})})
            reply = conn.getresponse()
            text = reply.read().decode("utf-8", "replace")
            for cookie in reply.headers.get_all("Set-Cookie") or []:
                name, _, rest = cookie.partition("=")
                value = rest.split(";", 1)[0]
                if value and "Max-Age=0" not in cookie:
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)
            return Response(reply.status, {k.lower(): v for k, v in reply.headers.items()}, text)
        finally:
            conn.close()

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def csrf(self, path: str) -> str:
        page = self.get(path)
        match = CSRF_META.search(page.text)
        if not match:
            raise RuntimeError(f"no CSRF token on {path} (status {page.status})")
        return match.group(1)

    def post_form(self, path: str, data: dict[str, str], csrf_from: str) -> Response:
        body = urlencode({**data, "csrf_token": self.csrf(csrf_from)}).encode()
        return self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})

    def sign_in(self, email: str = DEMO_EMAIL, password: str = DEMO_PASSWORD) -> None:
        reply = self.post_form("/signin", {"email": email, "password": password}, "/signin")
        if reply.status != 302 or "/signin" in reply.headers.get("location", ""):
            raise RuntimeError(f"could not sign in as {email} (status {reply.status})")

    def open_link(self, raw_token: str) -> None:
        reply = self.get(f"/l/{raw_token}")
        if reply.status != 302 or reply.headers.get("location") != "/q":
            raise RuntimeError(f"the partner link did not open (status {reply.status})")

    def wrk_headers(self, path: str = "/", extra: dict | None = None) -> list[str]:
        return [f"{k}: {v}" for k, v in {**self.headers(path), **(extra or {})}.items()]


def expect(reply: Response, status: int, *markers: str, what: str) -> None:
    """Refuse to benchmark a page that is not the page (a redirect to sign-in also 'succeeds' in wrk)."""
    missing = [m for m in markers if m not in reply.text]
    if reply.status != status or missing:
        raise RuntimeError(f"{what}: expected {status} with {markers}, got {reply.status}, missing {missing}")


# --- wrk ---------------------------------------------------------------------------------


@dataclass
class Load:
    name: str
    requests: int
    seconds: float
    p50: float  # milliseconds
    p95: float
    p99: float
    max: float
    status_errors: int
    socket_errors: int
    connections: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk(
    base: str,
    name: str,
    paths: list[str],
    *,
    headers: list[str] = (),
    connections: int = 16,
    seconds: int = 10,
    warmup: int = 2,
    method: str = "GET",
    answers: str = "",
) -> Load:
    """Load the app from a second process (wrk) and read its numbers."""
    require_loopback(base)
    env = {
        **os.environ,
        "BENCH_PATHS": "|".join(paths),
        "BENCH_METHOD": method,
        "BENCH_HEADERS": "\n".join(headers),
        "BENCH_ANSWERS": answers,
    }
    threads = min(2, connections)

    def run(duration: int) -> dict:
        cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "10s"]
        done = subprocess.run(  # noqa: S603 -- wrk from the system, fixed arguments, loopback only
            [*cmd, "-s", str(WRK_SCRIPT), base],
            env=env,
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=False,
        )
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
        if done.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed for {name}:\n{done.stdout}\n{done.stderr}")
        return json.loads(line.removeprefix("BENCH_RESULT "))

    if warmup:
        run(warmup)
    r = run(seconds)
    return Load(
        name=name,
        requests=r["requests"],
        seconds=r["duration_us"] / 1e6,
        p50=r["p50"] / 1000,
        p95=r["p95"] / 1000,
        p99=r["p99"] / 1000,
        max=r["max"] / 1000,
        status_errors=r["status_errors"],
        socket_errors=r["socket_errors"],
        connections=connections,
    )


def errors_note(load: Load) -> str:
    if load.status_errors or load.socket_errors:
        return f"  !! {load.status_errors} non-2xx/3xx, {load.socket_errors} socket errors"
    return ""
