"""HTML to PDF with WeasyPrint: the only module that imports it.

`render_pdf(template, context)` renders a Jinja template and returns PDF bytes. Rendering can
reach nothing but our own static files: the URL fetcher serves `STATIC_BASE_URL` from the static
folder, accepts `data:` URLs (signature images), and refuses every other URL (file://, http(s)://...),
so a report can neither read the disk nor call the network (shared/NOTES.md).

WeasyPrint costs ~0.85 s to import and builds its font configuration once: the module and the
parsed stylesheets are kept in the process (`warm_up()` pays that cost ahead of the first report).
"""
from __future__ import annotations

import logging
import mimetypes
import threading
from functools import lru_cache
from pathlib import Path

from flask import render_template
from flask_babel import force_locale

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Templates link our static files under this made-up origin; nothing else is fetched.
STATIC_BASE_URL = "https://static.helpdesk.invalid/"
_lock = threading.Lock()


class PdfError(RuntimeError):
    """Rendering failed."""


class RefusedURL(ValueError):
    """A document asked for a resource outside our static folder."""


@lru_cache(maxsize=1)
def _weasyprint():
    import weasyprint  # the only import of WeasyPrint in the project
    from weasyprint.text.fonts import FontConfiguration

    return weasyprint, FontConfiguration()


def resolve_static(url: str) -> Path:
    """The file a STATIC_BASE_URL url names, or RefusedURL (other origins, `..`, missing files)."""
    if not url.startswith(STATIC_BASE_URL):
        raise RefusedURL(f"refused URL: {url[:100]}")
    relative = url[len(STATIC_BASE_URL):].split("?", 1)[0].split("#", 1)[0]
    path = (STATIC_DIR / relative).resolve()
    if STATIC_DIR not in path.parents or not path.is_file():
        raise RefusedURL(f"refused URL: {url[:100]}")
    return path


@lru_cache(maxsize=1)
def _fetcher():
    weasyprint, _ = _weasyprint()
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticOnlyFetcher(URLFetcher):
        """Serves our static files and data: URLs; refuses the rest."""

        def __init__(self):
            super().__init__(allowed_protocols={"data"})

        def fetch(self, url, headers=None):
            if url.startswith("data:"):
                return super().fetch(url, headers)
            path = resolve_static(url)
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": content_type})

    return StaticOnlyFetcher()


@lru_cache(maxsize=8)
def _stylesheet(name: str):
    weasyprint, fonts = _weasyprint()
    return weasyprint.CSS(url=STATIC_BASE_URL + name, url_fetcher=_fetcher(), font_config=fonts)


def warm_up() -> None:
    """Import WeasyPrint and parse the report stylesheet now, so the first report is not slow."""
    _stylesheet("reports.css")


def render_html_to_pdf(html: str, stylesheets: tuple[str, ...] = ("reports.css",)) -> bytes:
    """PDF bytes of an HTML string, with our stylesheets (names under helpdesk/static)."""
    weasyprint, fonts = _weasyprint()
    with _lock:  # WeasyPrint's font configuration is not documented as thread-safe
        try:
            document = weasyprint.HTML(string=html, base_url=STATIC_BASE_URL, url_fetcher=_fetcher())
            return document.write_pdf(stylesheets=[_stylesheet(s) for s in stylesheets], font_config=fonts)
        except Exception as exc:  # WeasyPrint raises many types; callers need one
            log.exception("PDF rendering failed")
            raise PdfError(str(exc)) from exc


def render_pdf(template: str, context: dict, language: str = "fr",
               stylesheets: tuple[str, ...] = ("reports.css",)) -> bytes:
    """Render `template` with `context` in `language` and return the PDF's bytes (needs an app context)."""
    with force_locale(language):
        html = render_template(template, static_base=STATIC_BASE_URL, **context)
    return render_html_to_pdf(html, stylesheets)
