"""`python -m local.runner`: run function_app.py with the local runner (like `func start`).

App settings come from local.settings.json (`Values`; environment variables of the same name win),
as with Core Tools. Storage must be reachable (e.g. Azurite: `npx azurite --skipApiVersionCheck`).
For the whole local stack (Azurite, emulators, runner) use `docintel-dr local` instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from local.runner.host import DEFAULT_PORT, ROOT, host_for_script


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("docintel_dr").setLevel(level)


def read_values(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    document = json.loads(path.read_text(encoding="utf-8"))
    values = {str(k): str(v) for k, v in (document.get("Values") or {}).items() if v is not None}
    return {k: os.environ.get(k, v) for k, v in values.items()}


async def serve_until_signal(host: object) -> None:
    from local.runner.host import FunctionHost

    assert isinstance(host, FunctionHost)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, host.request_stop)
    await host.serve()


async def close_app_context() -> None:
    """The app builds its clients lazily on first use; close them on a normal stop, so that no
    connection is left open (and no "Unclosed client session" is logged)."""
    from shared.context import close_context

    await close_context()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.runner", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--script", type=Path, default=ROOT / "function_app.py", help="the function_app.py to run"
    )
    parser.add_argument(
        "--settings", type=Path, default=ROOT / "local.settings.json", help="local.settings.json"
    )
    parser.add_argument(
        "--port", type=int, default=None, help=f"HTTP port (default: Host.LocalHttpPort or {DEFAULT_PORT})"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    values = read_values(args.settings)
    port = args.port
    if port is None and args.settings.exists():
        port = int(
            json.loads(args.settings.read_text(encoding="utf-8"))
            .get("Host", {})
            .get("LocalHttpPort", DEFAULT_PORT)
        )
    host = host_for_script(
        args.script,
        values,
        port=port or DEFAULT_PORT,
        host=args.host,
        export_env=True,
        shutdown=close_app_context,
    )
    host.bind()
    print(f"Functions host (local runner) on {host.base_url}", flush=True)
    for spec in host.specs:
        t = spec.trigger
        if spec.trigger_type == "httpTrigger":
            methods = ",".join(t.get("methods") or ["GET", "POST"])
            print(f"  {spec.name}: [{methods}] {host.api_url}/{t.get('route') or spec.name}")
        else:
            detail = t.get("queueName") or t.get("schedule") or ""
            print(f"  {spec.name}: {spec.trigger_type} {detail}")
    print(f"  function key: {host.function_key}", flush=True)
    asyncio.run(serve_until_signal(host))
    return 0


if __name__ == "__main__":
    sys.exit(main())
