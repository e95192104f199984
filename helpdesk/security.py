"""Response headers every page carries: a strict Content-Security-Policy and friends.

No page may run inline script or load anything from another host. A view that needs a stricter
policy (the sandboxed mail HTML) sets its own header, which this hook leaves alone.
"""
from __future__ import annotations

from flask import Flask, Response

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "frame-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'self'",
])

# For mail HTML shown in an <iframe sandbox>: no script, no network, inline styles only,
# images only when embedded as data: URLs. `sandbox` here also covers a direct visit.
MAIL_HTML_CSP = "; ".join([
    "default-src 'none'",
    "style-src 'unsafe-inline'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'self'",
    "sandbox",
])

# For downloads: if a browser ever rendered one anyway, it could do nothing.
DOWNLOAD_CSP = "default-src 'none'; sandbox"


def add_security_headers(response: Response) -> Response:
    """after_request hook: CSP (unless the view set a stricter one), nosniff, framing, referrer."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def init_security(app: Flask) -> None:
    app.after_request(add_security_headers)
