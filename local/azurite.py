"""Start Azurite (the Azure Storage emulator, from node_modules) on loopback ports, in memory or on disk."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from local.emulator.process import free_port

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented; not a secret).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class Azurite:
    blob_port: int
    queue_port: int
    table_port: int
    pid: int

    @property
    def connection_string(self) -> str:
        host = "http://127.0.0.1"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={host}:{self.blob_port}/{ACCOUNT};QueueEndpoint={host}:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint={host}:{self.table_port}/{ACCOUNT};"
        )


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def azurite_command() -> list[str]:
    local_bin = ROOT / "node_modules" / ".bin" / "azurite"
    if local_bin.exists():
        return [str(local_bin)]
    found = shutil.which("azurite")
    if found:
        return [found]
    raise RuntimeError(
        "Azurite is not installed: run `npm ci` in the repository (make test and make demo do it)."
    )


@contextlib.contextmanager
def run_azurite(
    *, ports: tuple[int, int, int] | None = None, location: Path | None = None, timeout: float = 30.0
) -> Iterator[Azurite]:
    """Run Azurite (blob, queue, table) until the block ends; no process is left behind.

    In memory by default; with `location`, on disk there, so that an Azurite started again on the
    same ports and folder serves the same accounts (storage that blips, not storage that is lost)."""
    blob, queue, table = ports or (free_port(), free_port(), free_port())
    persistence = ["--location", str(location)] if location is not None else ["--inMemoryPersistence"]
    command = [
        *azurite_command(),
        *persistence,
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--silent",
        "--loose",
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(blob),
        "--queueHost",
        "127.0.0.1",
        "--queuePort",
        str(queue),
        "--tableHost",
        "127.0.0.1",
        "--tablePort",
        str(table),
    ]
    process = subprocess.Popen(  # noqa: S603 - fixed command line
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, cwd=ROOT
    )
    try:
        deadline = time.monotonic() + timeout
        while not all(_listening(p) for p in (blob, queue, table)):
            if process.poll() is not None:
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"Azurite exited with {process.returncode}: {error[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Azurite did not start listening within {timeout:.0f} s")
            time.sleep(0.1)
        yield Azurite(blob, queue, table, process.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
