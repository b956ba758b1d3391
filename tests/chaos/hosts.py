"""Several runner processes serving one function app, as Flex Consumption scales it out: each one a
`python -m local.runner` process on its own port, all over the same Azurite, emulators, queues and
tables. A host can be killed (SIGKILL: no cleanup, its queue messages stay leased) and started again;
Azurite can be restarted with its data on disk (storage that blips)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from local.azurite import Azurite, run_azurite
from local.emulator.process import free_port
from local.stack import ROOT


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class HostProcess:
    """One instance of the app: a runner process with its own port, log and events file."""

    index: int
    port: int
    workdir: Path
    values: dict[str, str]
    starts: int = 0
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"host-{self.index}.log"

    @property
    def events_path(self) -> Path:
        return self.workdir / f"events-{self.index}.jsonl"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        self.starts += 1
        settings = self.workdir / f"host-{self.index}.settings.json"
        values = {
            **self.values,
            "LOCAL_EVENTS_FILE": str(self.events_path),
            # Each start draws its own duplicates and crashes, as a new instance would.
            "LOCAL_FAULT_SEED": f"{self.values.get('LOCAL_FAULT_SEED', '0')}-{self.index}-{self.starts}",
        }
        settings.write_text(json.dumps({"IsEncrypted": False, "Values": values}), encoding="utf-8")
        self._log = self.log_path.open("ab")
        command = [
            sys.executable,
            "-m",
            "local.runner",
            "--settings",
            str(settings),
            "--port",
            str(self.port),
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while not _listening(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"host {self.index} exited with {self.process.returncode}: see {self.log_path}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"host {self.index} did not listen within {timeout:.0f} s")
            time.sleep(0.1)

    def kill(self) -> None:
        """kill -9: no shutdown, no message released, no lease given back."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._close_log()

    def stop(self) -> int | None:
        """A normal stop (SIGTERM); the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()
        return self.process.returncode

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class HostFleet:
    hosts: list[HostProcess]
    function_key: str
    rng: random.Random
    kills: int = 0
    restarts_of_storage: int = 0

    def live(self) -> list[HostProcess]:
        return [h for h in self.hosts if h.alive]

    def api_urls(self) -> list[str]:
        return [h.api_url for h in self.live()] or [self.hosts[0].api_url]

    def kill_one(self) -> HostProcess:
        victim = self.rng.choice(self.live())
        victim.kill()
        self.kills += 1
        return victim

    def events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for host in self.hosts:
            if host.events_path.exists():
                for line in host.events_path.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        with contextlib.suppress(ValueError):  # a line cut by a kill -9
                            out.append(json.loads(line))
        return out

    def log_text(self) -> str:
        return "\n".join(h.log_path.read_text(errors="replace") for h in self.hosts if h.log_path.exists())


@contextlib.contextmanager
def run_fleet(values: dict[str, str], workdir: Path, count: int, seed: int) -> Iterator[HostFleet]:
    """`count` runner processes with the same app settings; all stopped when the block ends."""
    key = values.setdefault("LOCAL_FUNCTION_KEY", f"fleet-key-{seed}")
    hosts = [HostProcess(i, free_port(), workdir, dict(values)) for i in range(count)]
    fleet = HostFleet(hosts, key, random.Random(seed))
    try:
        for host in hosts:
            host.start()
        yield fleet
    finally:
        for host in hosts:
            host.stop()


@dataclass
class RestartableAzurite:
    """Azurite on fixed ports with its data on disk, which can be stopped and started again."""

    location: Path
    ports: tuple[int, int, int] = field(default_factory=lambda: (free_port(), free_port(), free_port()))
    _running: contextlib.ExitStack | None = None
    azurite: Azurite | None = None

    def start(self) -> Azurite:
        self._running = contextlib.ExitStack()
        self.azurite = self._running.enter_context(run_azurite(ports=self.ports, location=self.location))
        return self.azurite

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None

    def restart(self, down_for: float) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()


def get_json(url: str, key: str) -> Any:
    return httpx.get(url, headers={"x-functions-key": key}, timeout=30).json()
