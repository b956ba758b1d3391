"""The fuzz runs' stage: the real pipeline (tests/stack.py) over Azurite and emulator processes of its
own, on an event loop of its own so that hypothesis (synchronous) can drive it; snapshots of the jobs
table around every input; and the tally of what the inputs did.

Between inputs the harness keeps the jobs table small and interesting: rows created by accepted
inputs are deleted, and a pool of live jobs (real ones, authorized at a target) is topped up when an
input ends one, so that generated messages and requests keep finding running jobs to name.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
from collections.abc import Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import pytest
from azure.data.tables.aio import TableClient
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings

from local.azurite import Azurite
from local.emulator.process import EmulatorHandle, run_emulator_process
from shared.copy.jobs import ALL_JOBS_FILTER, JobStatus, partition_of
from shared.copy.messages import CopyRequestMessage
from shared.copy.service import CopyRequest
from shared.docintel import ItemKind, ItemNotFound
from tests.stack import FAST_CLIENT, KEYS, REGIONS, PipelineStack, stack_settings, start_stack

T = TypeVar("T")

#: The webhook's shared secret in the fuzzed app (so that signatures are checked).
SECRET = "fuzz-webhook-secret-4e1d"
#: Items at the source, each a model and a classifier: inputs that name them (of either kind) get
#: past validation into the pipeline.
KNOWN_IDS = ["fuzz-model", "fz.model~2", "0b1e4a9c-2f6d-4c3b-9a8e-7d5f1c2b3a40", "fuzz-classifier"]
ALIASES = ["primary", "westus2", "northeurope"]
LIVE_POOL = 4
#: Inputs of the whole fuzz run (`pytest -m fuzz`).
FULL_RUN_INPUTS = 10_000


# --- sizes -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """How many inputs a fuzz test runs: `quick` in every `pytest` run (deterministic), `full` with
    `pytest -m fuzz` (random; hypothesis prints a seed to reproduce a failure)."""

    name: str
    divisor: int
    derandomize: bool

    def examples(self, full_budget: int) -> int:
        return max(8, full_budget // self.divisor)

    def settings(self, examples: int) -> hypothesis_settings:
        return hypothesis_settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=self.derandomize,
            print_blob=not self.derandomize,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate, Phase.shrink],
        )

    def skip_unless_selected(self, request: pytest.FixtureRequest) -> None:
        """The full run only under ``-m fuzz`` (as the chaos suite's full run)."""
        if self.name == "full" and "fuzz" not in (request.config.getoption("markexpr") or ""):
            pytest.skip("the 10,000-input fuzz run: pytest -m fuzz")


QUICK = Scale("quick", divisor=25, derandomize=True)
FULL = Scale("full", divisor=1, derandomize=False)
SCALES = [pytest.param(QUICK, id="quick"), pytest.param(FULL, id="full", marks=pytest.mark.fuzz)]


# --- the tally ---------------------------------------------------------------------------------------


@dataclass
class Counts:
    """What one family of inputs did. Only inputs that reached a function count (an event the worker
    itself cannot decode never reaches the app)."""

    inputs: int = 0
    rejected: int = 0
    accepted: int = 0
    server_errors: int = 0
    unhandled_exceptions: int = 0
    jobs_changed_by_rejected: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def status(self, code: int | str) -> None:
        self.statuses[str(code)] = self.statuses.get(str(code), 0) + 1


#: scale name -> family -> counts, for the whole pytest session.
TALLY: dict[str, dict[str, Counts]] = {}


def counts(scale: Scale, family: str) -> Counts:
    """A fresh tally for a family (a hypothesis re-run of the test starts it again)."""
    tally = Counts()
    TALLY.setdefault(scale.name, {})[family] = tally
    return tally


def tally_report() -> dict[str, Any]:
    report: dict[str, Any] = {}
    for scale, families in TALLY.items():
        total = Counts()
        for c in families.values():
            for name in ("inputs", "rejected", "accepted", "server_errors", "unhandled_exceptions"):
                setattr(total, name, getattr(total, name) + getattr(c, name))
            total.jobs_changed_by_rejected += c.jobs_changed_by_rejected
        report[scale] = {"total": asdict(total), "families": {f: asdict(c) for f, c in families.items()}}
    return report


def write_report() -> None:
    """For bench/fuzz.py: the tally as JSON at ``$FUZZ_REPORT``."""
    path = os.environ.get("FUZZ_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(tally_report(), out, indent=2)


# --- the jobs table, before and after ----------------------------------------------------------------

Row = tuple[str, dict[str, Any]]  # (etag, properties)
Snapshot = dict[str, Row]


@dataclass(frozen=True)
class Diff:
    created: dict[str, dict[str, Any]]
    modified: dict[str, dict[str, Any]]  # the rows as they are after
    deleted: set[str]

    @property
    def empty(self) -> bool:
        return not (self.created or self.modified or self.deleted)

    def __str__(self) -> str:
        created, modified, deleted = sorted(self.created), sorted(self.modified), sorted(self.deleted)
        return f"created {created}, modified {modified}, deleted {deleted}"


def diff(before: Snapshot, after: Snapshot) -> Diff:
    return Diff(
        created={k: after[k][1] for k in after.keys() - before.keys()},
        modified={k: after[k][1] for k in after.keys() & before.keys() if after[k] != before[k]},
        deleted=set(before.keys() - after.keys()),
    )


# --- the stage ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def fuzz_emulators() -> Iterator[dict[str, EmulatorHandle]]:
    """A source holding the known items and two targets, each its own process: no other test's items
    take part in a fuzzed sync, and no quota runs out however many ids the inputs reserve."""
    options: dict[str, Any] = {"copy_duration": 0.05, "rate_limits": "off", "model_limit": 1_000_000}
    seed = {
        "models": [{"modelId": m, "description": "fuzzed"} for m in KNOWN_IDS],
        "classifiers": [{"classifierId": c} for c in KNOWN_IDS],
    }
    with (
        run_emulator_process(REGIONS["primary"], KEYS["primary"], seed=seed, **options) as src,
        run_emulator_process(REGIONS["westus2"], KEYS["westus2"], **options) as west,
        run_emulator_process(REGIONS["northeurope"], KEYS["northeurope"], **options) as north,
    ):
        yield {"primary": src, "westus2": west, "northeurope": north}


class Harness:
    """The stack on its own event loop, the pool of jobs inputs may name, the jobs table around each
    input."""

    def __init__(self, azurite: Azurite, emulators: dict[str, EmulatorHandle]) -> None:
        self.loop = asyncio.new_event_loop()
        self.emulators = emulators
        self.settings = stack_settings(
            azurite, emulators, DR_WEBHOOK_SECRET=SECRET, DR_SYNC_PAGE_SIZE="50", **FAST_CLIENT
        )
        self.stack: PipelineStack = self.run(start_stack(self.settings))
        self.table = TableClient.from_connection_string(azurite.connection_string, self.settings.jobs_table)
        self._target_ids = itertools.count(1)
        #: Running jobs that inputs may name (replaced when an input ends one) ...
        self.live: list[str] = []
        #: ... and ended ones, their events out.
        self.finished: list[str] = []
        self.run(self._prepare())
        self.current: Snapshot = self.run(self.snapshot())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        self.run(self.stack.aclose())
        self.run(self.table.close())
        self.loop.close()

    # --- the pool -------------------------------------------------------------------------------

    @property
    def job_ids(self) -> list[str]:
        return self.live + self.finished

    def job_at(self, index: int) -> str:
        """A pool job, chosen when the input is drawn (strategies map an index through this)."""
        ids = self.job_ids
        return ids[index % len(ids)]

    async def _new_live_job(self) -> str:
        outcomes = await self.stack.service.submit(
            CopyRequest(
                kind=ItemKind.MODEL,
                source_id=KNOWN_IDS[0],
                source_alias="primary",
                targets=["westus2"],
                target_id=f"fuzz-pool-{next(self._target_ids)}",
            )
        )
        job = outcomes[0].job
        assert job is not None, outcomes[0].error
        return job.job_id

    async def _prepare(self) -> None:
        succeeded = await self._new_live_job()
        await self.stack.run_to_end([succeeded])
        canceled = await self._new_live_job()
        await self.stack.service.cancel(canceled)
        await self.stack.run_to_end([canceled])
        self.finished = [succeeded, canceled]
        self.live = [await self._new_live_job() for _ in range(LIVE_POOL)]

    # --- around each input ----------------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        rows: Snapshot = {}
        async for entity in self.table.query_entities(ALL_JOBS_FILTER):
            rows[entity["RowKey"]] = (str(entity.metadata["etag"]), dict(entity))
        return rows

    def after(self) -> tuple[Snapshot, Diff]:
        """The table now, and what changed since the last input (call once per input)."""
        before = self.current
        now = self.run(self.snapshot())
        return now, diff(before, now)

    def tidy(self, now: Snapshot) -> None:
        """Delete rows that accepted inputs created, replace pool jobs that inputs ended."""
        self.current = self.run(self._tidy(now))

    async def _tidy(self, now: Snapshot) -> Snapshot:
        changed = False
        for row_key in now.keys() - set(self.job_ids):
            await self._copy(row_key, now[row_key][1])
            await self.table.delete_entity(partition_of(row_key), row_key)
            changed = True
        for i, job_id in enumerate(self.live):
            row = now.get(job_id)
            if row is None or JobStatus(row[1]["status"]).is_terminal:
                if row is not None:
                    await self.table.delete_entity(partition_of(job_id), job_id)
                self.live[i] = await self._new_live_job()
                changed = True
        return await self.snapshot() if changed else now

    async def _copy(self, job_id: str, row: dict[str, Any]) -> None:
        """Start the copy of an authorized job an input created (its first step, as its message would)
        and wait until the item is at the target. Its authorization reserves the target id: left
        pending, a later input naming the same item with another description or tags would meet the
        reservation (`IdReserved`, the documented 503 until it lapses within the hour), an artefact
        of jobs that never run. Copied, the item is simply there (up to date, or a conflict)."""
        if row["status"] != JobStatus.AUTHORIZED:
            return
        message = CopyRequestMessage(job_id=job_id, generation=row["generation"]).to_json()
        await self.stack.service.handle_copy_request(message, None)
        target, kind = self.stack.service.clients[row["target_alias"]], ItemKind(row["kind"])
        for _ in range(100):
            with contextlib.suppress(ItemNotFound):
                await target.get_item(kind, row["target_id"])
                return
            await asyncio.sleep(0.02)
