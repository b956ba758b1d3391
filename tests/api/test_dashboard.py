"""GET /api/dashboard through the real function: one self-contained page, its headers and what it never
holds. The page in a browser: tests/api/test_dashboard_browser.py."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import azure.functions as func

import function_app
from shared.api import dashboard

ROOT = Path(__file__).resolve().parent.parent.parent
KEY = "a-function-key-that-must-not-appear"


def request(params: dict[str, str] | None = None) -> func.HttpRequest:
    return func.HttpRequest(
        "GET",
        "http://localhost:7071/api/dashboard",
        headers={"x-functions-key": KEY},
        params=params or {},
        route_params={},
        body=b"",
    )


def csp_of(response: func.HttpResponse) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] for d in (p.strip() for p in policy.split(";"))}


async def test_the_page_is_html_with_a_policy_that_allows_only_its_own_script_and_style(stack):
    response = await function_app.dashboard(request({"code": KEY}))

    assert response.status_code == 200
    assert response.mimetype == "text/html" and response.charset == "utf-8"
    page = response.get_body().decode()
    policy = csp_of(response)
    nonce = re.fullmatch(r"'nonce-([A-Za-z0-9_-]{20,})'", policy["script-src"])
    assert nonce is not None
    assert policy["style-src"] == policy["script-src"]
    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    # Every script and style element carries the nonce; nothing else is loaded.
    assert re.findall(r"<script\b[^>]*>", page) == [f'<script nonce="{nonce.group(1)}">']
    assert re.findall(r"<style\b[^>]*>", page) == [f'<style nonce="{nonce.group(1)}">']
    assert not re.search(r"\s(src|href)\s*=", page), "the page loads nothing"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_each_reply_has_its_own_nonce_and_no_key(stack):
    first = await function_app.dashboard(request({"code": KEY}))
    second = await function_app.dashboard(request({"code": KEY}))

    assert csp_of(first)["script-src"] != csp_of(second)["script-src"]
    for response in (first, second):
        page = response.get_body().decode()
        assert KEY not in page
        assert "{{" not in page  # every placeholder filled in


async def test_the_page_names_the_configured_aliases_and_the_rpo_but_no_endpoint_or_key(stack):
    page = (await function_app.dashboard(request())).get_body().decode()

    settings = stack.context.settings
    assert 'data-targets="westus2,northeurope"' in page
    assert 'data-source="primary"' in page
    assert f'data-rpo-seconds="{round(settings.rpo_target_hours * 3600)}"' in page
    for resource in settings.resources.values():
        assert resource.endpoint.rstrip("/") not in page
        if resource.key is not None:
            assert resource.key.get_secret_value() not in page


def test_values_are_escaped_where_the_server_fills_them_in():
    page = dashboard.render({"nonce": "n", "source": '<b>"x"</b>', "targets": "a&b", "rpoSeconds": "1"})

    assert 'data-source="&lt;b&gt;&quot;x&quot;&lt;/b&gt;"' in page
    assert 'data-targets="a&amp;b"' in page


def test_the_script_never_turns_data_into_markup():
    """Item ids and error messages come from the service: the page sets text, never markup."""
    script = dashboard.template().split("<script", 1)[1]
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("):
        assert sink not in script, sink
    assert script.count("fetch(") == 1
    assert re.findall(r"getJson\('([a-z]+)\?", script) == ["status", "copies"]


def test_the_page_ships_with_the_app():
    """Read as a package resource: in the package data, and not left out of the deployment."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "*.html" in project["tool"]["setuptools"]["package-data"]["shared.api"]
    ignored = [
        line.strip()
        for line in (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    path = "shared/api/dashboard.html"
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    hits = [p for p in ignored for part in parts + prefixes if fnmatch(part, p.rstrip("/"))]
    assert hits == []
    assert dashboard.template().startswith("<!doctype html>")
