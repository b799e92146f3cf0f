"""Turn a report context into a PDF with WeasyPrint, fetching nothing but Tandem's own static files.

Reports carry names, notes and answers typed by people, so the renderer is locked
down the way indico's `create_pdf` is: the templates autoescape everything, and
the URL fetcher serves only files bundled under clinic/static and `data:` URIs.
No file:// path, no network, no cookies: anything else stops the render.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import DataHandler, Request

# Imported once per worker process, not per job: the import takes about as long as a whole render.
import weasyprint
from flask import current_app, render_template
from markupsafe import Markup
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

# Defined beside the context builder, so the web process can compute a cache key
# (and read the paper size) without importing WeasyPrint.
from clinic.reports.context import PAGE_SIZES, TEMPLATE_VERSION, page_size

__all__ = [
    "BASE_URL",
    "TEMPLATE_VERSION",
    "FetchRefused",
    "RenderRefused",
    "StaticOnlyFetcher",
    "page_size",
    "render_pdf",
    "safe_fetcher",
    "warm_up",
]

# A made-up scheme: nothing outside this module knows how to open it, so a URL
# that escapes the fetcher's checks still leads nowhere. Templates and report.css
# write their URLs in full, since urljoin does not resolve relative URLs against
# an unknown scheme.
BASE_URL = "tandem-report:/"
STATIC_PREFIX = BASE_URL + "static/"
STATIC_ROOT = Path(__file__).resolve().parent.parent / "static"
TEMPLATES = {"clinician": "reports/clinician.html", "summary": "reports/summary.html"}
# WeasyPrint only applies a linked stylesheet served as text/css; the rest is
# stated rather than guessed so the answer does not depend on the host's mime.types.
MIME_TYPES = {
    ".css": "text/css",
    ".ttf": "font/ttf",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


class FetchRefused(ValueError):
    """The report asked for a resource that is not one of Tandem's bundled static files."""


class RenderRefused(RuntimeError):
    """A render stopped because the document asked for something the fetcher refuses."""


def static_file(url: str) -> Path:
    """The bundled static file a tandem-report: URL names (FetchRefused for anything else)."""
    if not url.startswith(STATIC_PREFIX):
        raise FetchRefused("only Tandem's bundled static files can be fetched")
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise FetchRefused("static URLs take no query or fragment")
    relative = unquote(url[len(STATIC_PREFIX) :])
    if not relative or "\x00" in relative:
        raise FetchRefused("not a static file")
    root = STATIC_ROOT.resolve()
    # resolve() follows symlinks and removes "..", so checking the result catches
    # both escapes; an absolute remainder ("static//etc/x") resolves outside too.
    try:
        path = (root / relative).resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise FetchRefused("no such static file") from exc
    if not path.is_relative_to(root) or not path.is_file():
        raise FetchRefused("not a bundled static file")
    return path


class StaticOnlyFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that serves clinic/static files and data: URIs, and refuses the rest."""

    def __init__(self) -> None:
        # fail_on_errors: a refused URL stops the render instead of being skipped
        # with a log line, so a template mistake or an injected URL cannot go unseen.
        # The base class never opens anything here; the limits are a second lock.
        super().__init__(allowed_protocols=("data",), allow_redirects=False, fail_on_errors=True)

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        """Return a bundled static file or decode a data: URI; raise FetchRefused for anything else."""
        if url[:5].lower() == "data:":
            # DataHandler decodes in memory and keeps no state, so one fetcher can serve
            # several rendering threads; the check above means it only ever sees data: URIs.
            with DataHandler().data_open(Request(url)) as response:  # noqa: S310
                body = response.read()
                content_type = response.headers["Content-Type"]
            return URLFetcherResponse(url, body, {"Content-Type": content_type})
        path = static_file(url)
        mime = MIME_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime})


# The one fetcher every render uses; it keeps no per-request state.
safe_fetcher = StaticOnlyFetcher()


def _template_context(ctx: dict) -> dict:
    """The context as the templates see it: plain data, except the trusted chart SVG."""
    if ctx.get("kind") not in TEMPLATES:
        raise ValueError(f"unknown report kind {ctx.get('kind')!r}")
    if ctx.get("page_size") not in PAGE_SIZES:
        # It is written into a <style> block: only the known names may go there.
        raise ValueError(f"unknown page size {ctx.get('page_size')!r}")
    view = dict(ctx)
    # clinic.charts builds these SVG strings itself and escapes every label and name it
    # writes into them; they are the only markup the templates print as is.
    for part in ("details", "over_time"):
        if part in ctx:
            view[part] = [
                {**entry, "chart": Markup(entry["chart"]) if entry.get("chart") else None}  # noqa: S704  # nosec B704 -- SVG from clinic.charts
                for entry in ctx[part]
            ]
    return view


def render_pdf(ctx: dict) -> bytes:
    """Render a context from build_context to PDF bytes (needs an app context for the templates)."""
    view = _template_context(ctx)
    html = render_template(TEMPLATES[view["kind"]], report=view)
    document = weasyprint.HTML(string=html, base_url=BASE_URL, url_fetcher=safe_fetcher)
    try:
        return document.write_pdf()
    except FatalURLFetchingError:
        # The URL stays out of the message: it could carry text from the report.
        raise RenderRefused("the report asked for a resource outside Tandem's static files") from None


# Text in each bundled face, so the warm-up loads every font the reports use.
WARM_UP_HTML = (
    '<!doctype html><html><head><meta charset="utf-8">'
    f'<link rel="stylesheet" href="{STATIC_PREFIX}reports/report.css"></head>'
    "<body><h1>Tandem</h1><p>Warm-up <strong>bold</strong> <em>oblique</em> 0123456789</p></body></html>"
)


def warm_up() -> None:
    """Compile the report templates and render one small page with the report stylesheet
    (needs an app context). A worker does this once before it forks a process per job, so
    no job pays for loading fonts, Pango and the stylesheets' first parse."""
    for name in TEMPLATES.values():
        current_app.jinja_env.get_template(name)
    weasyprint.HTML(string=WARM_UP_HTML, base_url=BASE_URL, url_fetcher=safe_fetcher).write_pdf()
