"""Queue messages: versioned, small, and a malformed one is recognised at once."""

from __future__ import annotations

import pytest

from shared.copy.messages import (
    CopyRequestMessage,
    MalformedMessage,
    PollMessage,
    job_id_hint,
    parse_message,
)


def test_a_message_round_trips_and_stays_small():
    message = PollMessage(job_id="0123456789abcdef", generation=4, attempt=2)
    raw = message.to_json()
    assert parse_message(raw, PollMessage) == message
    assert len(raw) < 200


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ('{"v": 2, "job_id": "ab", "generation": 0}', "schema version 2"),
        ('{"job_id": "ab"}', "generation"),
        ('{"job_id": "AB/..", "generation": 0}', "job_id"),
        ('{"job_id": "ab", "generation": 0, "extra": 1}', "extra"),
        ("[]", "CopyRequestMessage"),
        ("x" * 60_000, "bytes"),
    ],
)
def test_a_malformed_message_says_why(raw, reason):
    with pytest.raises(MalformedMessage, match=reason):
        parse_message(raw, CopyRequestMessage)


def test_the_job_of_a_broken_message_can_still_be_named():
    assert job_id_hint('{"job_id": "abc123", "generation": "x"}') == "abc123"
    assert job_id_hint('{"job_id": "../x"}') is None
    assert job_id_hint("garbage") is None
