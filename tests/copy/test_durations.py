"""What the poller learns about how long copies take, kept in the state table."""

from __future__ import annotations

import pytest

from shared.copy.durations import ITEM_SPREAD, PAIR_SPREAD, CopyDurations, CopyKey
from shared.docintel import ItemKind

INVOICE = CopyKey(ItemKind.MODEL, "primary", "westus2", "invoice")
RECEIPT = CopyKey(ItemKind.MODEL, "primary", "westus2", "receipt")


async def test_a_bracketed_copy_end_teaches_the_midpoint(state_table):
    durations = CopyDurations(state_table)
    await durations.observe(INVOICE, at_least=8.0, at_most=10.0)
    estimate = await durations.estimate(INVOICE)
    assert estimate is not None and estimate.seconds == pytest.approx(9.0)


async def test_an_item_is_aimed_from_its_own_copies_and_a_new_one_from_its_pairs(state_table):
    durations = CopyDurations(state_table)
    await durations.observe(INVOICE, at_least=29.0, at_most=31.0)
    own = await durations.estimate(INVOICE)
    first_copy = await durations.estimate(RECEIPT)
    assert own is not None and own.spread == ITEM_SPREAD
    assert (
        first_copy is not None
        and first_copy.spread == PAIR_SPREAD
        and first_copy.seconds == pytest.approx(30)
    )
    assert await durations.estimate(CopyKey(ItemKind.CLASSIFIER, "primary", "westus2", "invoice")) is None
    assert await durations.estimate(CopyKey(ItemKind.MODEL, "primary", "northeurope", "invoice")) is None


async def test_a_first_read_that_finds_the_copy_done_never_raises_the_estimate(state_table):
    durations = CopyDurations(state_table)
    await durations.observe(INVOICE, at_least=4.0, at_most=6.0)
    for _ in range(10):  # first reads aimed at the estimate, each finding the copy already done
        await durations.observe(INVOICE, at_least=None, at_most=7.0)
    estimate = await durations.estimate(INVOICE)
    assert estimate is not None and estimate.seconds == pytest.approx(5.0)


async def test_an_upper_bound_lowers_a_larger_estimate(state_table):
    durations = CopyDurations(state_table)
    await durations.observe(INVOICE, at_least=20.0, at_most=22.0)
    await durations.observe(INVOICE, at_least=None, at_most=3.0)
    estimate = await durations.estimate(INVOICE)
    assert estimate is not None and estimate.seconds < 21.0


async def test_what_one_instance_learned_another_reads_from_the_table(state_table):
    await CopyDurations(state_table).observe(INVOICE, at_least=8.0, at_most=10.0)
    estimate = await CopyDurations(state_table).estimate(INVOICE)
    assert estimate is not None and estimate.seconds == pytest.approx(9.0)


async def test_a_first_copy_seen_only_when_done_teaches_a_bound_and_the_next_copy_brackets_it(state_table):
    durations = CopyDurations(state_table)
    # A short item between resources whose copies are long: its first read found it done at 12 s.
    await durations.observe(INVOICE, at_least=None, at_most=12.0)
    bound = await durations.estimate(INVOICE)
    assert bound is not None and bound.earliest == 0 and bound.latest == pytest.approx(12.0)
    # Its next copy is read from the start and seen running at 2 s, done at 3 s: that is the item now.
    await durations.observe(INVOICE, at_least=2.0, at_most=3.0)
    own = await durations.estimate(INVOICE)
    assert own is not None and own.spread == ITEM_SPREAD and own.seconds == pytest.approx(2.5)


async def test_a_tighter_bound_replaces_a_looser_one(state_table):
    durations = CopyDurations(state_table)
    await durations.observe(INVOICE, at_least=None, at_most=12.0)
    await durations.observe(INVOICE, at_least=None, at_most=4.0)
    await durations.observe(INVOICE, at_least=None, at_most=9.0)
    estimate = await durations.estimate(INVOICE)
    assert estimate is not None and estimate.earliest == 0 and estimate.latest == pytest.approx(4.0)


async def test_a_bound_is_the_items_alone_the_pair_keeps_a_rough_estimate(state_table):
    durations = CopyDurations(state_table)
    await durations.observe(INVOICE, at_least=None, at_most=12.0)
    first_copy = await durations.estimate(RECEIPT)
    assert first_copy is not None and first_copy.spread == PAIR_SPREAD and first_copy.seconds == 12.0
    assert (await CopyDurations(state_table).estimate(INVOICE)) == await durations.estimate(INVOICE)
