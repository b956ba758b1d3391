"""``python -m local.emulator``: serve one emulated resource with uvicorn until interrupted, or
until the process that started it is gone."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from .server import create_app
from .state import EmulatorState


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m local.emulator",
        description="Local Azure AI Document Intelligence emulator (one resource).",
    )
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--region", required=True)
    p.add_argument("--key", required=True, help="the resource's API key (Ocp-Apim-Subscription-Key)")
    p.add_argument("--seed", help="JSON file with {models: [...], classifiers: [...]}")
    p.add_argument("--resource-id", help="ARM id of the emulated resource")
    p.add_argument("--cmk", action="store_true", help="resource uses customer-managed keys")
    p.add_argument(
        "--copy-duration",
        type=float,
        default=None,
        help="base seconds of every copy (each within +-15%%); default: drawn per item from --copy-durations",
    )
    p.add_argument(
        "--copy-durations",
        default="1,6",
        metavar="LOW,HIGH",
        help="range of the per-item base copy durations in seconds (default 1,6: copies of small models)",
    )
    p.add_argument(
        "--authorization-lifetime",
        type=float,
        default=None,
        metavar="SECONDS",
        help="lifetime of copy authorizations (default: as the service, 1 hour; v2.1 24 hours)",
    )
    p.add_argument(
        "--progress", action="store_true", help="percentCompleted while a copy runs (the service shows none)"
    )
    p.add_argument(
        "--poll-retry-after",
        type=int,
        default=None,
        metavar="SECONDS",
        help="send Retry-After on polls of unfinished copies (the service does not)",
    )
    p.add_argument("--accept-any-token", action="store_true", help="accept any well-formed JWT bearer token")
    p.add_argument("--model-limit", type=int, default=5000)
    p.add_argument("--neural-limit", type=int, default=500)
    p.add_argument("--page-size", type=int, default=50)
    p.add_argument("--rate-limits", default="default", help="'default' (S0), 'off', or JSON object")
    p.add_argument("--random-seed", type=int, default=0)
    p.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="RESOURCE_ID=ENDPOINT",
        help="another emulated resource (needed for v2.1 copies); repeatable",
    )
    return p


def state_from_args(args: argparse.Namespace) -> EmulatorState:
    rate: Any = args.rate_limits  # "default", "off", or the JSON object's dict
    if rate not in ("default", "off"):
        rate = json.loads(rate)
    peers = dict(p.split("=", 1) for p in args.peer)
    return EmulatorState(
        args.region,
        args.key,
        endpoint=f"http://{args.host}:{args.port}",
        resource_id=args.resource_id,
        cmk=args.cmk,
        copy_duration=args.copy_duration,
        copy_durations=_duration_range(args.copy_durations),
        authorization_lifetime=args.authorization_lifetime,
        progress=args.progress,
        poll_retry_after=args.poll_retry_after,
        accept_any_token=args.accept_any_token,
        model_limit=args.model_limit,
        neural_limit=args.neural_limit,
        page_size=args.page_size,
        rate_limits=rate,
        random_seed=args.random_seed,
        peers=peers,
    )


def _duration_range(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


def seed_from_file(state: EmulatorState, path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            state.seed(json.load(f))
    except (OSError, ValueError, TypeError, AttributeError) as e:
        print(f"emulator: cannot seed from {path}: {e}", file=sys.stderr)
        return False
    return True


async def _watch_parent(parent: int) -> None:
    """Never outlive the process that started us."""
    while True:
        await asyncio.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    args = build_parser().parse_args(argv)
    state = state_from_args(args)
    if args.seed and not seed_from_file(state, args.seed):
        return 2
    app = create_app(state)
    parent = os.getppid()
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        http="h11",
        # the emulator sends its own Date (emulator clock) and, like the service, no Server header
        date_header=False,
        server_header=False,
        loop="asyncio",
    )
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(_watch_parent(parent))
        try:
            await server.serve()
        finally:
            task.cancel()

    t0 = time.time()
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0 if server.started or time.time() - t0 > 1 else 1


if __name__ == "__main__":
    sys.exit(main())
