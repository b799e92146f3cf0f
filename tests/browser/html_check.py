"""Every page the browser journeys were served, kept as served and put through the Nu Html
Checker (vnu.jar, Java) in one run at the end of the session.

A page is kept as the server sent it (the response body of each HTML document a tab loaded,
error pages and the answers to form posts included), not as scripts later changed it: that is
what the templates make. Pages land in build/html/<database>/, numbered in the order they
were served, with pages.json naming each file's address, method and status; identical bodies
are kept once. The checker's findings go to build/html/<database>/vnu.md.

The checker is the npm package vnu-jar (pinned in package.json; `make test` installs it into
node_modules/ with `npm ci`), run by the system's Java 17 or later. Without either the check is
skipped on a developer's machine and fails in CI (CI=1), like the browser journeys.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO = Path(__file__).resolve().parents[2]
VNU_JAR = Path(os.environ.get("VNU_JAR", REPO / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"))
JAVA = os.environ.get("JAVA", "java")
# The checker reads every page in one Java process; a few hundred pages take seconds.
CHECK_SECONDS = 300


@dataclass
class Served:
    file: str
    url: str
    method: str
    status: int
    also: list[str] = field(default_factory=list)  # other addresses that answered the same body


@dataclass
class ServedPages:
    """Keeps the body of every HTML document a watched browser context was served by `origin`."""

    folder: Path
    origin: str
    pages: list[Served] = field(default_factory=list)
    # Documents whose body the browser dropped before it could be read: a page that moves on
    # at once (a refresh to another site) is gone by the time its response is reported.
    lost: list[Served] = field(default_factory=list)
    # The page as each journey step left it (after its scripts ran), in dom/.
    shown: list[Served] = field(default_factory=list)
    _by_digest: dict[str, Served] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        (self.folder / "dom").mkdir(parents=True)

    def watch(self, context) -> None:
        context.on("response", self._keep)

    def _keep(self, response) -> None:
        # An event handler: whatever happens here must not break the journey that caused it.
        try:
            if response.request.resource_type != "document" or not _same_origin(response.url, self.origin):
                return
            if not 200 <= response.status < 300 and not 400 <= response.status < 600:
                return  # a redirect has no body; the page it leads to is kept
            if not response.headers.get("content-type", "").startswith("text/html"):
                return
            body = response.body()
        except Exception:  # the page moved on (or its tab closed) before its body was read
            self.lost.append(Served("", response.url, response.request.method, response.status))
            return
        self.add(body, response.url, response.request.method, response.status)

    def add(self, body: bytes, url: str, method: str = "GET", status: int = 200) -> Served:
        digest = hashlib.sha256(body).hexdigest()
        seen = self._by_digest.get(digest)
        if seen is not None:
            seen.also.append(url)
            return seen
        served = Served(f"{len(self.pages) + 1:04d}-{_slug(url)}.html", url, method, status)
        (self.folder / served.file).write_bytes(body)
        self.pages.append(served)
        self._by_digest[digest] = served
        (self.folder / "pages.json").write_text(json.dumps([vars(p) for p in self.pages], indent=1) + "\n")
        return served

    def keep_dom(self, page, step: str) -> Served:
        """The page as it is now, scripts' changes included (Playwright serialises the DOM)."""
        shown = Served(f"dom/{len(self.shown) + 1:04d}-{_slug(step)}.html", page.url, "DOM", 0)
        (self.folder / shown.file).write_text(page.content())
        self.shown.append(shown)
        return shown


def _same_origin(url: str, origin: str) -> bool:
    a, b = urlsplit(url), urlsplit(origin)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _slug(url: str) -> str:
    path = urlsplit(url).path.strip("/")
    slug = "".join(c if c.isalnum() else "-" for c in path)[:60].strip("-")
    return slug or "root"


# --- the checker ------------------------------------------------------------------------------


def without_checker(environ=os.environ, jar: Path = VNU_JAR, java: str = JAVA) -> tuple[str, str] | None:
    """What to do when Java or vnu.jar is missing: None when both are there; ("skip", why) on a
    developer's machine; ("fail", why) in CI, where the check must run."""
    from tests.browser.conftest import in_ci

    missing = []
    if shutil.which(java) is None:
        missing.append(f"Java is not installed ({java}; apt-get install default-jre-headless)")
    if not Path(jar).is_file():
        missing.append(f"the Nu Html Checker is not at {jar} (npm ci --ignore-scripts, or make test)")
    if not missing:
        return None
    why = "; ".join(missing)
    if in_ci(environ):
        return "fail", f"{why}; CI is set, so the HTML check must run, not be skipped"
    return "skip", why


@dataclass
class Finding:
    file: str
    line: int
    column: int
    message: str
    extract: str

    def describe(self, where: str) -> str:
        extract = " ".join(self.extract.split())[:100]
        return f"{where} line {self.line}:{self.column}: {self.message}" + (f"  [{extract}]" if extract else "")


def check(files: list[Path], jar: Path = VNU_JAR, java: str = JAVA) -> list[Finding]:
    """Every error the Nu Html Checker finds in `files` (one Java process for all of them).
    Warnings are left out; anything the checker could not read counts as an error."""
    if not files:
        return []
    done = subprocess.run(
        [java, "-jar", str(jar), "--errors-only", "--format", "json", "--stdout", "--exit-zero-always"]
        + [str(f) for f in files],
        capture_output=True,
        text=True,
        timeout=CHECK_SECONDS,
        check=False,
    )
    try:
        messages = json.loads(done.stdout)["messages"]
    except (ValueError, KeyError) as exc:
        raise RuntimeError(
            f"the checker gave no report ({exc}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        ) from exc
    findings = []
    for m in messages:
        if m.get("type") == "info":
            continue
        name = str(Path(unquote(urlsplit(m.get("url", "")).path)).resolve())
        findings.append(
            Finding(name, m.get("lastLine", 0), m.get("firstColumn", 0), m.get("message", ""), m.get("extract", ""))
        )
    return findings


def report(pages: ServedPages, findings: list[Finding], version: str = "") -> str:
    """The run's findings as Markdown: each error with its page, then every page checked."""
    per_file = Counter(f.file for f in findings)
    lines = [
        "# Pages checked with the Nu Html Checker",
        "",
        f"vnu.jar {version}".strip() + f": {len(pages.pages)} pages as served and {len(pages.shown)} as the"
        f" journeys' steps left them, {len(findings)} errors on {len(per_file)} of them (warnings are not listed).",
        "",
    ]
    if findings:
        lines += ["## Errors", "", *(f"- {line}" for line in describe(pages, findings)), ""]
    lines += ["## Pages", "", "| file | method | status | address | errors |", "|---|---|---|---|---|"]
    for p in pages.pages + pages.shown:
        errors = per_file.get(str((pages.folder / p.file).resolve()), 0)
        lines.append(f"| {p.file} | {p.method} | {p.status or ''} | {urlsplit(p.url).path} | {errors} |")
    if pages.lost:
        lines += ["", "Served but gone before the body could be read (the page moved on at once):", ""]
        lines += [f"- {p.method} {urlsplit(p.url).path} ({p.status})" for p in pages.lost]
    return "\n".join(lines) + "\n"


def describe(pages: ServedPages, findings: list[Finding]) -> list[str]:
    """Each finding as one line: the page (method, address, status, file), line, message."""
    by_file = {str((pages.folder / p.file).resolve()): p for p in pages.pages + pages.shown}
    return [f.describe(_where(by_file.get(f.file), f.file)) for f in findings]


def _where(page: Served | None, file: str) -> str:
    if page is None:
        return file
    if page.method == "DOM":
        return f"{urlsplit(page.url).path} after scripts ({page.file})"
    return f"{page.method} {urlsplit(page.url).path} ({page.status}, {page.file})"


def version(jar: Path = VNU_JAR) -> str:
    """The checker's version, from the npm package it came in (no second Java start)."""
    try:
        return json.loads((Path(jar).parents[2] / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError, IndexError):
        return ""
