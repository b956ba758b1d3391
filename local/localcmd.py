"""`docintel-dr local`: the whole stack in the foreground until Ctrl-C or SIGTERM.

Azurite (in memory), one Document Intelligence emulator per region (the source seeded from
local/sample-seed.json) and function_app.py under the local runner. Stopping leaves no process.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from types import FrameType

from local.stack import (
    COPY_SECONDS,
    EMULATOR_PORTS,
    SAMPLE_SEED,
    SOURCE_REGION,
    TARGET_REGIONS,
    Services,
    StackOptions,
)


def _ports(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("use comma-separated port numbers, e.g. 5100,5101,5102") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=7071, help="function app HTTP port (default 7071; 0 = free)"
    )
    parser.add_argument(
        "--ports",
        type=_ports,
        default=EMULATOR_PORTS,
        help="emulator ports, source first (default 5100,5101,5102; 0 = free)",
    )
    parser.add_argument(
        "--azurite-ports", type=_ports, default=None, help="blob,queue,table (default: free ports)"
    )
    parser.add_argument(
        "--source-region", default=SOURCE_REGION, help=f"region of 'primary' (default {SOURCE_REGION})"
    )
    parser.add_argument(
        "--targets",
        default=",".join(TARGET_REGIONS),
        help=f"target regions, also their aliases (default {','.join(TARGET_REGIONS)})",
    )
    parser.add_argument(
        "--copy-duration", type=float, default=COPY_SECONDS, help="seconds one emulated copy takes"
    )
    parser.add_argument("--seed", type=Path, default=SAMPLE_SEED, help="seed file of the source emulator")
    parser.add_argument("--no-seed", action="store_true", help="start the source emulator empty")
    parser.add_argument("--rate-limits", default="default", help="emulator rate limits: default (S0) or off")
    parser.add_argument(
        "--function-key", default=None, help="function key to require (default: a random one)"
    )
    parser.add_argument(
        "--webhook",
        action="append",
        default=[],
        help="also deliver every published event to this URL (repeatable)",
    )
    parser.add_argument(
        "--sync-schedule", default=None, help="NCRONTAB schedule of the sync timer (DR_SYNC_SCHEDULE)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where local.settings.json and events.jsonl go (default .local/)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def banner(host: object, services: Services, options: StackOptions) -> str:
    from local.runner.host import FunctionHost

    assert isinstance(host, FunctionHost)
    api, key = host.api_url, host.function_key
    lines = [
        "",
        "docintel-dr local stack is up (Ctrl-C stops everything)",
        "",
        f"  function app     {api}    function key: {key}",
        f"  dashboard        {api}/dashboard?code={key}",
        f"  event topic      {host.topic_endpoint}  -> {host.sink.path}",
        f"  Event Grid hook  {host.base_url}/runtime/webhooks/EventGrid?functionName=<name>"
        f"&code={host.eventgrid_key}",
        f"  Azurite          queue http://127.0.0.1:{services.azurite.queue_port}  "
        f"table http://127.0.0.1:{services.azurite.table_port}  blob http://127.0.0.1:{services.azurite.blob_port}",
    ]
    for alias, emulator in services.emulators.items():
        lines.append(f"  emulator {alias:<11} {emulator.endpoint}  ({emulator.region})")
    if options.settings_file is not None:
        lines.append(f"  app settings     {options.settings_file} (holds the emulator keys; not printed)")
    lines += ["", "  functions:"]
    for spec in host.specs:
        t = spec.trigger
        if spec.trigger_type == "httpTrigger":
            methods = ",".join(t.get("methods") or ["GET", "POST"])
            lines.append(f"    {spec.name:<22} {methods:<5} {api}/{t.get('route') or spec.name}")
        else:
            detail = t.get("queueName") or t.get("schedule") or ""
            lines.append(f"    {spec.name:<22} {spec.trigger_type} {detail}")
    lines += [
        "",
        "  try:",
        f"    curl -s -X POST '{api}/copies' -H 'x-functions-key: {key}' \\",
        "         -H 'content-type: application/json' \\",
        '         -d \'{"kind": "model", "sourceId": "invoices-template"}\'',
        f"    curl -s '{api}/copies/<jobId>?code={key}'",
        f"    curl -s '{api}/copies?code={key}'",
        f"    curl -s -X POST '{api}/copies/<jobId>/cancel' -H 'x-functions-key: {key}'",
        f"    tail -f {host.sink.path}",
        "",
    ]
    return "\n".join(lines)


async def _serve(host: object, text: str) -> None:
    from local.runner.host import FunctionHost

    assert isinstance(host, FunctionHost)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, host.request_stop)
    await host.serve(on_ready=lambda: print(text, flush=True))


def run(args: argparse.Namespace) -> int:
    from local.runner.__main__ import configure_logging
    from local.stack import build_host, run_services

    configure_logging(10 if args.verbose else 20)
    # SIGTERM unwinds like Ctrl-C, so every started process is stopped.
    signal.signal(signal.SIGTERM, _terminate)
    targets = tuple(t.strip().lower() for t in args.targets.split(",") if t.strip())
    extra = {"DR_SYNC_SCHEDULE": args.sync_schedule} if args.sync_schedule else {}
    options = StackOptions(
        runner_port=args.port,
        emulator_ports=tuple(args.ports),
        azurite_ports=tuple(args.azurite_ports) if args.azurite_ports else None,
        source_region=args.source_region,
        targets=targets,
        copy_duration=args.copy_duration,
        rate_limits=args.rate_limits,
        seed=None if args.no_seed else args.seed,
        function_key=args.function_key,
        webhooks=tuple(args.webhook),
        extra_settings=extra,
    )
    if args.state_dir is not None:
        options.events_file = args.state_dir / "events.jsonl"
        options.settings_file = args.state_dir / "local.settings.json"
    if options.azurite_ports is not None and len(options.azurite_ports) != 3:
        print("--azurite-ports takes three ports: blob,queue,table", file=sys.stderr)
        return 2
    try:
        print("starting Azurite and the emulators ...", flush=True)
        with run_services(options) as services:
            host = build_host(services, options)
            try:
                asyncio.run(_serve(host, banner(host, services, options)))
            finally:
                signal.signal(signal.SIGTERM, _terminate)
                signal.signal(signal.SIGINT, signal.default_int_handler)
            print("stopping ...", flush=True)
    except KeyboardInterrupt:
        print("stopped", flush=True)
        return 130
    except OSError as exc:
        print(
            f"docintel-dr local: {exc} (is another stack running? choose other ports with --port/--ports)",
            file=sys.stderr,
        )
        return 1
    print("stopped", flush=True)
    return 0
