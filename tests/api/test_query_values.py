"""Limits that `str.isdigit` takes and `int` refuses (found by the fuzz run, tests/fuzz) are a 400
problem, not a 500; so is a limit in any digits but ASCII. A job id with a trailing newline (which
`$` lets through) is no job."""

from __future__ import annotations

import azure.functions as func
import pytest

import function_app
from tests.stack import assert_problem, body_of


def get(route: str, params=None, route_params=None) -> func.HttpRequest:
    return func.HttpRequest(
        "GET",
        "https://dr.example.net/api/" + route,
        body=b"",
        params=params or {},
        headers={},
        route_params=route_params or {},
    )


@pytest.mark.parametrize(
    "limit",
    ["\u00b2", "1\u00b2", "\u2460", "\u0663", "1" * 5_000, "0" * 9 + "1000", "", "5 ", "-1", "501"],
    ids=["superscript two", "one superscript two", "circled one", "arabic-indic three", "5000 digits",
         "13 digits", "empty", "trailing space", "negative", "over 500"],
)  # fmt: skip
async def test_a_limit_that_is_not_1_to_500_in_ascii_digits_is_invalid(stack, limit):
    problem = assert_problem(await function_app.list_copies(get("copies", params={"limit": limit})), 400)
    assert problem["code"] == "invalid-query"


async def test_a_limit_in_range_lists(stack):
    response = await function_app.list_copies(get("copies", params={"limit": "0050"}))
    assert response.status_code == 200 and body_of(response) == {"jobs": []}


async def test_a_job_id_with_a_trailing_newline_is_no_job(stack):
    response = await function_app.get_copy(get("copies/x", route_params={"jobId": "0123456789abcdef\n"}))
    assert assert_problem(response, 404)["code"] == "job-not-found"
