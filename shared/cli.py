"""The ``docintel-dr`` command: runbook operations without the function app.

    docintel-dr sync [--dry-run] [--source ALIAS] [--targets ALIAS ...] [--json]
    docintel-dr status [--targets ALIAS ...] [--json]
    docintel-dr copy ID [--kind model|classifier] [--to ALIAS ...] [--json]
    docintel-dr failover check --to ALIAS [--no-refresh] [--json]

Settings come from the environment, filling in from ``local.settings.json`` (``--settings PATH``).
The commands use the same planner and client as the app, directly against the configured
resources: ``sync`` and ``copy`` authorize, copy and poll until done themselves (no queues), so
they work during an outage of the app or from a CI job after training.

Exit codes: 0 success, 1 partial failure (something failed, is blocked, out of sync or
unreachable; for ``failover check``: not safe to fail over), 2 error (bad configuration or usage).

Subcommands are one function each, registered in ``COMMANDS`` at the bottom: add yours there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.data.tables.aio import TableClient

    from shared.copy.jobs import JobStore
    from shared.copy.records import CopyRecords
    from shared.docintel import DocIntelClient
    from shared.settings import Settings
    from shared.status.rows import ItemState, StatusRows

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_ERROR = 2


class UsageError(Exception):
    """Bad usage or configuration: exit code 2 with the message."""


# --- output helpers -------------------------------------------------------------------------------


class ProgressLine:
    """A dependency-free progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = self.stream.isatty()

    def __call__(self, done: int, total: int, label: str) -> None:
        if not self.enabled or total <= 0:
            return
        filled = int(self.width * done / total)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} {label[:60]:<60}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str], out: TextIO) -> None:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
        if n == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def _dump(body: Any, out: TextIO) -> None:
    out.write(json.dumps(body, indent=2, default=str) + "\n")


# --- the environment: settings, clients, tables ---------------------------------------------------


def load(args: argparse.Namespace) -> Settings:
    from shared.settings import SettingsError, load_settings

    try:
        return load_settings(local_settings=Path(args.settings))
    except SettingsError as exc:
        raise UsageError(str(exc)) from None


@dataclass
class Runtime:
    """What a command works with: a client per resource and the app's tables."""

    settings: Settings
    clients: dict[str, DocIntelClient]
    records: CopyRecords
    jobs: JobStore
    status: StatusRows
    credential: AsyncTokenCredential | None
    tables: list[TableClient]

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        for table in self.tables:
            await table.close()
        if self.credential is not None:
            await self.credential.close()


async def open_runtime(settings: Settings) -> Runtime:
    """Clients and tables for a command (creating the tables on a first run)."""
    from azure.core.exceptions import AzureError

    from shared.context import build_clients, build_credential, needs_credential
    from shared.copy.jobs import JobStore
    from shared.copy.records import CopyRecords
    from shared.status.rows import StatusRows
    from shared.storage import ensure_table, table_client

    credential = build_credential(settings) if needs_credential(settings) else None
    state_table = table_client(settings, settings.state_table, credential)
    jobs_table = table_client(settings, settings.jobs_table, credential)
    runtime = Runtime(
        settings,
        build_clients(settings, credential),
        CopyRecords(state_table),
        JobStore(jobs_table),
        StatusRows(state_table),
        credential,
        [state_table, jobs_table],
    )
    try:
        await ensure_table(state_table)
        await ensure_table(jobs_table)
    except AzureError as exc:
        await runtime.aclose()
        raise UsageError(
            f"the app's storage cannot be reached ({type(exc).__name__}); check AzureWebJobsStorage "
            f"(or AzureWebJobsStorage__tableServiceUri) and its role assignments"
        ) from None
    return runtime


def _targets(settings: Settings, names: Sequence[str] | None, source: str | None = "") -> list[str] | None:
    """Target aliases from the command line (comma-separated or not), each configured and not the
    source (`source`: the primary when not given; None: any alias)."""
    if not names:
        return None
    targets = list(dict.fromkeys(t.strip().lower() for name in names for t in name.split(",") if t.strip()))
    unknown = [t for t in targets if t not in settings.resources]
    if unknown:
        raise UsageError(f"unknown alias(es) {', '.join(unknown)}; configured: {', '.join(settings.aliases)}")
    source = settings.primary if source == "" else source
    if source is not None and source in targets:
        raise UsageError(f"'{source}' is the source; it cannot be a target")
    return targets


def _source(settings: Settings, name: str | None) -> str:
    source = (name or settings.primary).strip().lower()
    if source not in settings.resources:
        raise UsageError(f"unknown source alias {source}; configured: {', '.join(settings.aliases)}")
    return source


# --- sync -----------------------------------------------------------------------------------------


def sync_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="plan only: show what would be copied")
    parser.add_argument(
        "--source",
        metavar="ALIAS",
        help="copy from this resource (default: the primary); a secondary for a failback",
    )
    parser.add_argument(
        "--targets",
        nargs="+",
        metavar="ALIAS",
        help="only these targets (default: every secondary; from another source: the primary)",
    )
    parser.add_argument("--max-jobs", type=int, default=None, help="copies per run (default: setting)")
    parser.add_argument("--concurrency", type=int, default=8, help="copies in flight at once")


async def _sync(args: argparse.Namespace, out: TextIO) -> int:
    from shared.sync.executors import DirectExecutor
    from shared.sync.run import run_sync

    settings = load(args)
    source = _source(settings, args.source)
    targets = _targets(settings, args.targets, source)
    runtime = await open_runtime(settings)
    try:
        report = await run_sync(
            settings,
            runtime.clients,
            DirectExecutor(settings, runtime.clients, runtime.records, source_alias=source),
            runtime.records,
            dry_run=args.dry_run,
            targets=targets,
            trigger="cli",
            max_jobs=args.max_jobs,
            concurrency=args.concurrency,
            progress=None if args.json else ProgressLine(),
            status=runtime.status,
            source=source,
        )
    finally:
        await runtime.aclose()
    body = report.to_dict()
    if args.json:
        _dump(body, out)
    else:
        origin = f" from {source}" if source != settings.primary else ""
        out.write(f"sync {report.sync_id}{origin}: {report.status}{' (dry run)' if report.dry_run else ''}\n")
        if report.error:
            out.write(f"error: {report.error}\n")
        rows = []
        for alias, target in body["targets"].items():
            counts = target["counts"]
            rows.append(
                [alias, "yes" if target["reachable"] else "NO", counts["copy"], counts["recopy"],
                 counts["up-to-date"], counts["orphan"], counts["blocked"]]
            )  # fmt: skip
        if rows:
            print_table(
                rows, ["target", "reachable", "copy", "recopy", "up-to-date", "orphan", "blocked"], out
            )
        jobs = body["jobs"]
        if not report.dry_run and report.plan is not None:
            out.write(
                f"copies: {jobs['succeeded']} succeeded, {jobs['failed']} failed, "
                f"{jobs['upToDate']} already there, {jobs['deferred']} deferred; {jobs['deleted']} deleted\n"
            )
        problems = [
            [alias, i["kind"], i["sourceId"], "diverged" if i["diverged"] else i["action"], i["reason"]]
            for alias, target in body["targets"].items()
            for i in target["items"]
            if i["action"] == "blocked"
            or i["diverged"]
            or (report.dry_run and i["action"] in ("copy", "recopy"))
        ]
        problems += [
            [
                j["target"],
                j["kind"],
                j["sourceId"],
                "failed",
                f"{j['error']['code']}: {j['error']['message']}",
            ]
            for j in jobs["items"]
            if j["status"] == "failed" and j["error"]
        ]
        for alias, target in body["targets"].items():
            if not target["reachable"]:
                problems.append([alias, "", "", "unreachable", target["error"]])
        if problems:
            print_table(problems, ["target", "kind", "id", "action", "reason"], out)
    return EXIT_OK if report.status == "succeeded" else EXIT_PARTIAL


def sync_command(args: argparse.Namespace) -> int:
    return asyncio.run(_sync(args, sys.stdout))


# --- status ---------------------------------------------------------------------------------------


def status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--targets", nargs="+", metavar="ALIAS", help="only these targets (default: all)")
    parser.add_argument(
        "--state",
        metavar="STATES",
        help="list items in these states, comma-separated (default: all but present)",
    )
    parser.add_argument("--all", action="store_true", help="list every item, present ones too")


def _states(args: argparse.Namespace) -> list[ItemState]:
    from shared.status.rows import ItemState

    if args.all:
        return []
    names = [n.strip().lower() for n in (args.state or "").split(",") if n.strip()]
    valid = [s.value for s in ItemState]
    if not names:
        return [s for s in ItemState if s is not ItemState.PRESENT]
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise UsageError(f"unknown state(s) {', '.join(unknown)}; states: {', '.join(valid)}")
    return [ItemState(n) for n in dict.fromkeys(names)]


async def _status(args: argparse.Namespace, out: TextIO) -> int:
    """The status report as the app keeps it (every sync and every job end writes it), page by page."""
    from shared.status.report import MAX_PAGE_SIZE, StatusQuery, status_report

    settings = load(args)
    # Any configured resource: the primary has rows once a failback has synced into it.
    targets = _targets(settings, args.targets, None) or list(settings.secondaries)
    states = _states(args)
    runtime = await open_runtime(settings)
    items: list[dict[str, Any]] = []
    try:
        query = StatusQuery(targets=targets, states=states, page_size=MAX_PAGE_SIZE)
        body = await status_report(runtime.status, query, source_alias=settings.primary)
        items.extend(body["items"])
        while body["continuationToken"]:
            query = StatusQuery(targets, states, MAX_PAGE_SIZE, body["continuationToken"])
            page = await status_report(runtime.status, query, source_alias=settings.primary)
            items.extend(page["items"])
            body["continuationToken"] = page["continuationToken"]
    finally:
        await runtime.aclose()
    body["items"] = items
    if args.json:
        _dump(body, out)
    else:
        _print_status(body, out)
    return EXIT_OK if body["inSync"] else EXIT_PARTIAL


def _print_status(body: dict[str, Any], out: TextIO) -> None:
    source = body["source"]
    if source["lastSync"] is None:
        out.write(f"source {source['alias']}: never synced; run docintel-dr sync (or wait for the timer)\n")
    elif not source["reachable"]:
        out.write(f"source {source['alias']} could not be listed by the last sync: {source['error']}\n")
    else:
        out.write(f"source {source['alias']}: {'in sync' if body['inSync'] else 'OUT OF SYNC'}\n")
    rows = []
    for alias, target in body["targets"].items():
        c, last = target["counts"], target["lastSync"] or {}
        reachable = {True: "yes", False: "NO", None: "never synced"}[target["reachable"]]
        rows.append(
            [alias, reachable, c["present"], c["missing"], c["stale"], c["blocked"], c["diverged"],
             c["orphan"], target["exposureSeconds"], target["oldestRecoveryPoint"], last.get("at")]
        )  # fmt: skip
    if rows:
        headers = ["target", "listed", "present", "missing", "stale", "blocked", "diverged", "orphan",
                   "exposure s", "oldest copy", "last sync"]  # fmt: skip
        print_table(rows, headers, out)
    items = [
        [i["target"], i["kind"], i["sourceId"], i["state"], i["lastCopiedAt"],
         (i["lastError"] or {}).get("message") or i["reason"]]
        for i in body["items"]
    ]  # fmt: skip
    if items:
        print_table(items, ["target", "kind", "id", "state", "last copy", "note"], out)


def status_command(args: argparse.Namespace) -> int:
    return asyncio.run(_status(args, sys.stdout))


# --- copy -----------------------------------------------------------------------------------------


def copy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", help="the source model or classifier id")
    parser.add_argument("--kind", choices=["model", "classifier"], default="model")
    parser.add_argument("--to", nargs="+", metavar="ALIAS", help="targets (default: every secondary)")


async def _copy(args: argparse.Namespace, out: TextIO) -> int:
    from shared.copy.provenance import stamp
    from shared.docintel import DocIntelError, ItemKind, ItemNotFound
    from shared.sync.executors import CopyResult, DirectExecutor
    from shared.sync.planner import PlanAction, PlanItem

    settings = load(args)
    targets = _targets(settings, args.to) or list(settings.secondaries)
    runtime = await open_runtime(settings)
    try:
        kind = ItemKind(args.kind)
        try:
            item = await runtime.clients[settings.primary].get_item(kind, args.id)
        except ItemNotFound:
            raise UsageError(f"{kind.value} '{args.id}' does not exist at '{settings.primary}'") from None
        except DocIntelError as exc:
            raise UsageError(
                f"cannot read {kind.value} '{args.id}' at '{settings.primary}': {exc.message}"
            ) from None
        executor = DirectExecutor(settings, runtime.clients, runtime.records)
        progress = None if args.json else ProgressLine()
        done = 0

        async def one(target: str) -> CopyResult:
            nonlocal done
            result = await executor.copy(
                PlanItem(target, kind, item.id, item.id, PlanAction.COPY, "requested",
                         source_created=stamp(item.created_at), source_item=item)
            )  # fmt: skip
            done += 1
            if progress is not None:
                progress(done, len(targets), f"{item.id} -> {target}")
            return result

        results = await asyncio.gather(*(one(t) for t in targets))
    finally:
        await runtime.aclose()
    if args.json:
        _dump({"kind": kind.value, "sourceId": args.id, "results": [r.to_dict() for r in results]}, out)
    else:
        rows = [
            [
                r.item.target_alias,
                r.target_id,
                r.status.value,
                f"{r.error.code}: {r.error.message}" if r.error else "",
            ]
            for r in results
        ]
        print_table(rows, ["target", "target id", "status", "error"], out)
    return EXIT_OK if all(r.status in ("succeeded", "up-to-date") for r in results) else EXIT_PARTIAL


def copy_command(args: argparse.Namespace) -> int:
    return asyncio.run(_copy(args, sys.stdout))


# --- failover -------------------------------------------------------------------------------------


def failover_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["check"], help="check: can the pipeline move to --to now?")
    parser.add_argument("--to", required=True, metavar="ALIAS", help="the secondary to fail over to")
    parser.add_argument(
        "--no-refresh",
        action="store_true",
        help="read the last known status only (no listing of the resources)",
    )


async def _read_status(rows: StatusRows, target: str, primary: str) -> dict[str, Any]:
    """The status report of one target, every page, every state."""
    from shared.status.report import MAX_PAGE_SIZE, StatusQuery, status_report

    body = await status_report(rows, StatusQuery([target], (), MAX_PAGE_SIZE), source_alias=primary)
    items: list[dict[str, Any]] = list(body["items"])
    token = body["continuationToken"]
    while token:
        page = await status_report(
            rows, StatusQuery([target], (), MAX_PAGE_SIZE, token), source_alias=primary
        )
        items.extend(page["items"])
        token = page["continuationToken"]
    body["items"] = items
    return body


async def _failover(args: argparse.Namespace, out: TextIO) -> int:
    """Refresh the target's status rows with a dry-run sync of it when the primary can be listed,
    else probe the target and read the last known rows; then say whether a failover is safe."""
    from shared.docintel import DocIntelError
    from shared.status.failover import Refresh, assess
    from shared.sync.executors import DirectExecutor
    from shared.sync.inventory import list_items
    from shared.sync.run import run_sync
    from shared.timefmt import utcnow

    settings = load(args)
    target = args.to.strip().lower()
    if target not in settings.resources:
        raise UsageError(f"unknown alias {target}; configured: {', '.join(settings.aliases)}")
    if target == settings.primary:
        raise UsageError(
            f"'{target}' is the primary; fail over to a secondary: {', '.join(settings.secondaries)}"
        )
    runtime = await open_runtime(settings)
    try:
        refresh = Refresh(source_listed=False, attempted=not args.no_refresh)
        if not args.no_refresh:
            report = await run_sync(
                settings,
                runtime.clients,
                DirectExecutor(settings, runtime.clients, runtime.records),
                runtime.records,
                dry_run=True,
                targets=[target],
                trigger="cli",
                status=runtime.status,
            )
            if report.plan is not None:
                planned = report.plan.targets[target]
                refresh = Refresh(True, None, True, planned.error is None, planned.error)
            else:
                try:
                    held = await list_items(runtime.clients[target])
                except DocIntelError as exc:
                    refresh = Refresh(False, report.error, True, False, exc.message)
                else:
                    ids = frozenset((i.kind.value, i.id) for i in held)
                    refresh = Refresh(False, report.error, True, True, None, ids)
        body = await _read_status(runtime.status, target, settings.primary)
    finally:
        await runtime.aclose()
    result = assess(body, target=target, primary=settings.primary, refresh=refresh, now=utcnow())
    if args.json:
        _dump(result, out)
    else:
        _print_failover(result, out)
    return EXIT_OK if result["safe"] else EXIT_PARTIAL


def _print_failover(result: dict[str, Any], out: TextIO) -> None:
    from shared.status.failover import human

    target, verdict = result["target"], "SAFE" if result["safe"] else "NOT SAFE"
    why = "; ".join(result["problems"]) or f"every item of {result['source']} is present at {target}"
    out.write(f"failover to {target}: {verdict}: {why}\n")
    for note in result["notes"]:
        out.write(f"  {note}\n")
    c = result["counts"]
    listed = {True: "yes", False: "NO", None: "unknown"}[result["targetReachable"]]
    print_table(
        [[target, listed, c["present"], c["missing"], c["stale"], c["blocked"], c["diverged"], c["orphan"],
          human(result["exposureSeconds"]), result["oldestRecoveryPoint"], result["asOf"]]],
        ["target", "listed", "present", "missing", "stale", "blocked", "diverged", "orphan", "exposure",
         "oldest copy", "as of"],
        out,
    )  # fmt: skip
    items = [
        [i["kind"], i["sourceId"], i["state"], human(i["exposureSeconds"]), i["lastCopiedAt"],
         (i["lastError"] or {}).get("message") or i["reason"]]
        for i in result["items"]
    ]  # fmt: skip
    if items:
        out.write("\n")
        print_table(items, ["kind", "id", "state", "exposure", "last copy", "note"], out)


def failover_command(args: argparse.Namespace) -> int:
    return asyncio.run(_failover(args, sys.stdout))


# --- local stand-ins (local/) ---------------------------------------------------------------------


def local_arguments(parser: argparse.ArgumentParser) -> None:
    from local import localcmd

    localcmd.add_arguments(parser)


def local_command(args: argparse.Namespace) -> int:
    from local import localcmd

    return int(localcmd.run(args))


def emulator_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("args", nargs=argparse.REMAINDER, help="options of python -m local.emulator")


def emulator_command(args: argparse.Namespace) -> int:
    from local.emulator.cli import main as emulator_main

    try:
        return int(emulator_main(list(args.args)) or 0)
    except SystemExit as exc:  # the emulator's own argparse: --help, usage errors
        return int(exc.code or 0)


# --- the command table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    #: Whether --json and --settings apply (commands that read the app's settings).
    uses_settings: bool = True
    #: Whether every option, --help included, goes to the command itself (a wrapped program).
    passthrough: bool = False


COMMANDS: dict[str, Command] = {
    "sync": Command("plan and copy every model and classifier to the targets", sync_arguments, sync_command),
    "status": Command(
        "DR status: present / missing / stale / orphan per item and target", status_arguments, status_command
    ),
    "copy": Command("copy one item now (authorize, copy, wait)", copy_arguments, copy_command),
    "failover": Command(
        "failover check: is a secondary complete, and what would a failover to it lose?",
        failover_arguments,
        failover_command,
    ),
    "local": Command(
        "run the whole stack locally (Azurite, emulators, the app)",
        local_arguments,
        local_command,
        uses_settings=False,
    ),
    "emulator": Command(
        "run one Document Intelligence emulator (python -m local.emulator)",
        emulator_arguments,
        emulator_command,
        uses_settings=False,
        passthrough=True,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="docintel-dr",
        description="Disaster recovery for Azure AI Document Intelligence models and classifiers.",
        epilog="Exit codes: 0 success, 1 partial failure, 2 error (configuration or usage).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        child = sub.add_parser(
            name, help=command.help, description=command.help, add_help=not command.passthrough
        )
        if command.uses_settings:
            child.add_argument(
                "--settings",
                default="local.settings.json",
                metavar="PATH",
                help="local.settings.json to fill in what the environment lacks (default: %(default)s)",
            )
            child.add_argument("--json", action="store_true", help="print the result as JSON")
        command.arguments(child)
        child.set_defaults(handler=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and not COMMANDS[args.command].passthrough:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # argparse: usage errors exit 2, --help exits 0
        return int(exc.code or 0)
    if extra:
        args.args = [*extra, *args.args]
    try:
        return int(args.handler(args))
    except UsageError as exc:
        sys.stderr.write(f"docintel-dr {args.command}: {exc}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_PARTIAL


if __name__ == "__main__":
    sys.exit(main())
