"""``GET /api/dashboard``: the DR dashboard, one self-contained HTML page.

The page (``dashboard.html`` beside this module, shipped with the package) has no external resource:
its style and script are inline, and the browser reads the data itself from ``/api/status`` (every
page, one chain per target) and ``/api/copies``, with the function key the page was opened with
(``?code=``). The server fills in only what is configuration, not data: the source and target
aliases and the recovery point objective, each HTML-escaped, and a fresh nonce that the
Content-Security-Policy names as the only script and style allowed to run. No key, endpoint or token
is ever written into the page. It is read-only: the page calls nothing but those two GET routes.
"""

from __future__ import annotations

import functools
import html
import re
import secrets
from importlib import resources
from typing import TYPE_CHECKING

import azure.functions as func

if TYPE_CHECKING:
    from shared.context import AppContext
    from shared.settings import Settings

PAGE = "dashboard.html"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@functools.cache
def template() -> str:
    """The page as shipped, with ``{{name}}`` placeholders."""
    return resources.files(__package__ or "shared.api").joinpath(PAGE).read_text(encoding="utf-8")


def content_security_policy(nonce: str) -> str:
    """Only the page's own inline script and style (by nonce), and requests to its own origin."""
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'nonce-{nonce}'",
            f"style-src 'nonce-{nonce}'",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def render(values: dict[str, str]) -> str:
    """The page with every placeholder replaced by its HTML-escaped value (a missing one is a bug)."""
    return _PLACEHOLDER.sub(lambda m: html.escape(values[m.group(1)], quote=True), template())


def page_values(settings: Settings, nonce: str) -> dict[str, str]:
    return {
        "nonce": nonce,
        "source": settings.primary,
        "targets": ",".join(settings.secondaries),
        "rpoSeconds": str(round(settings.rpo_target_hours * 3600)),
    }


async def dashboard_page(req: func.HttpRequest, ctx: AppContext) -> func.HttpResponse:
    """``GET /api/dashboard``: the page; query parameters (the key in ``code``) are the page's own."""
    nonce = secrets.token_urlsafe(18)
    headers = {
        "Content-Security-Policy": content_security_policy(nonce),
        # The key may be in the page's URL: never send it on, never keep the page in a cache.
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }
    return func.HttpResponse(
        render(page_values(ctx.settings, nonce)),
        status_code=200,
        mimetype="text/html",
        charset="utf-8",
        headers=headers,
    )
