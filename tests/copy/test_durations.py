"""What the poller learns about how long copies take, kept in the state table."""

from __future__ import annotations

import pytest

from shared.copy.durations import CopyDurations
from shared.docintel import ItemKind

MODEL, CLASSIFIER = ItemKind.MODEL, ItemKind.CLASSIFIER


async def test_a_bracketed_copy_end_teaches_the_midpoint(state_table):
    durations = CopyDurations(state_table)
    await durations.observe(MODEL, "primary", "westus2", at_least=8.0, at_most=10.0)
    assert await durations.expected(MODEL, "primary", "westus2") == pytest.approx(9.0)


async def test_a_first_read_that_finds_the_copy_done_never_raises_the_estimate(state_table):
    durations = CopyDurations(state_table)
    await durations.observe(MODEL, "primary", "westus2", at_least=4.0, at_most=6.0)
    for _ in range(10):  # first reads aimed at the estimate, each finding the copy already done
        await durations.observe(MODEL, "primary", "westus2", at_least=None, at_most=7.0)
    assert await durations.expected(MODEL, "primary", "westus2") == pytest.approx(5.0)


async def test_an_upper_bound_lowers_a_larger_estimate(state_table):
    durations = CopyDurations(state_table)
    await durations.observe(MODEL, "primary", "westus2", at_least=20.0, at_most=22.0)
    await durations.observe(MODEL, "primary", "westus2", at_least=None, at_most=3.0)
    expected = await durations.expected(MODEL, "primary", "westus2")
    assert expected is not None and expected < 21.0


async def test_pairs_are_learned_separately(state_table):
    durations = CopyDurations(state_table)
    await durations.observe(MODEL, "primary", "westus2", at_least=1.0, at_most=3.0)
    assert await durations.expected(CLASSIFIER, "primary", "westus2") is None
    assert await durations.expected(MODEL, "primary", "northeurope") is None


async def test_what_one_instance_learned_another_reads_from_the_table(state_table):
    await CopyDurations(state_table).observe(MODEL, "primary", "westus2", at_least=8.0, at_most=10.0)
    assert await CopyDurations(state_table).expected(MODEL, "primary", "westus2") == pytest.approx(9.0)
