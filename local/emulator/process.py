"""Run an emulator as a real process (uvicorn on 127.0.0.1) for tests, the demo and benchmarks."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import httpx

_OPTION_FLAGS = {
    "resource_id": "--resource-id",
    "copy_duration": "--copy-duration",
    "authorization_lifetime": "--authorization-lifetime",
    "poll_retry_after": "--poll-retry-after",
    "model_limit": "--model-limit",
    "neural_limit": "--neural-limit",
    "page_size": "--page-size",
    "random_seed": "--random-seed",
}
_BOOL_FLAGS = {"cmk": "--cmk", "accept_any_token": "--accept-any-token", "progress": "--progress"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EmulatorHandle:
    endpoint: str
    region: str
    key: str
    resource_id: str
    pid: int
    _http: httpx.Client = field(repr=False)

    def _ok(self, r: httpx.Response) -> Any:
        """The reply's JSON (None when empty) once the status is 2xx. Any: the shape is the route's,
        and each method below names it."""
        r.raise_for_status()
        return r.json() if r.content else None

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = self._ok(self._http.get("/_emulator/health"))
        return body

    def seed(self, data: dict[str, Any]) -> dict[str, Any]:
        counts: dict[str, Any] = self._ok(self._http.post("/_emulator/seed", json=data))
        return counts

    def configure(self, **cfg: Any) -> dict[str, Any]:
        """Same keys as PUT /_emulator/config, e.g. configure(copyDurationSeconds=0.5, rateLimits="off")."""
        config: dict[str, Any] = self._ok(self._http.put("/_emulator/config", json=cfg))
        return config

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = self._ok(self._http.get("/_emulator/config"))
        return config

    def outage(self, down: bool, mode: str = "503") -> dict[str, Any]:
        state: dict[str, Any] = self._ok(
            self._http.post("/_emulator/outage", json={"down": down, "mode": mode})
        )
        return state

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        clock: dict[str, Any] = self._ok(
            self._http.post("/_emulator/clock", json={"advanceSeconds": seconds})
        )
        return clock

    def requests(self) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = self._ok(self._http.get("/_emulator/requests"))
        return log

    def clear_requests(self) -> None:
        self._ok(self._http.delete("/_emulator/requests"))

    def tokens(self) -> list[str]:
        """Every copy access token this emulated resource has issued."""
        tokens: list[str] = self._ok(self._http.get("/_emulator/tokens"))
        return tokens

    def commits(self) -> list[dict[str, Any]]:
        """Copies delivered into each item of this resource: `[{"kind", "id", "commits"}]`."""
        commits: list[dict[str, Any]] = self._ok(self._http.get("/_emulator/commits"))
        return commits

    def items(self) -> dict[str, Any]:
        items: dict[str, Any] = self._ok(self._http.get("/_emulator/items"))
        return items

    def register_peer(self, other: EmulatorHandle) -> None:
        self.configure(peers={other.resource_id: other.endpoint})


def _process_resource_id(region: str, port: int) -> str:
    return (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/docintel-dr-local/providers/"
        f"Microsoft.CognitiveServices/accounts/docintel-{region}-{port}"
    )


def _option_args(options: dict[str, Any]) -> list[str]:
    """Command-line flags for ``run_emulator_process``'s options."""
    argv: list[str] = []
    for name, value in options.items():
        if value is None:
            continue
        if name in _OPTION_FLAGS:
            argv += [_OPTION_FLAGS[name], str(value)]
        elif name == "copy_durations":
            low, high = value
            argv += ["--copy-durations", f"{low},{high}"]
        elif name in _BOOL_FLAGS:
            argv += [_BOOL_FLAGS[name]] if value else []
        elif name == "rate_limits":
            argv += ["--rate-limits", value if isinstance(value, str) else json.dumps(value)]
        elif name == "peers":
            for rid, ep in value.items():
                argv += ["--peer", f"{rid}={ep}"]
        else:
            raise TypeError(f"unknown emulator option {name!r}")
    return argv


def _seed_args(seed: dict[str, Any] | str | None) -> tuple[list[str], str | None]:
    """(the ``--seed`` flag, the temporary file to delete afterwards) for a seed dict or file."""
    if isinstance(seed, dict):
        fd, seed_file = tempfile.mkstemp(suffix=".json", prefix="emulator-seed-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(seed, f)
        return ["--seed", seed_file], seed_file
    if isinstance(seed, str):
        return ["--seed", seed], None
    return [], None


def _wait_healthy(
    proc: subprocess.Popen[bytes], http: httpx.Client, err: IO[bytes], port: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            err.seek(0)
            raise RuntimeError(f"emulator exited with {proc.returncode}: {err.read().decode()[-2000:]}")
        try:
            if http.get("/_emulator/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"emulator on port {port} not healthy after {timeout}s")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill after 5 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def run_emulator_process(
    region: str,
    key: str,
    *,
    port: int = 0,
    seed: dict[str, Any] | str | None = None,
    startup_timeout: float = 20.0,
    **options: Any,
) -> Iterator[EmulatorHandle]:
    """Start ``python -m local.emulator`` and yield a handle once GET /_emulator/health answers 200.

    options: resource_id, cmk, copy_duration (base seconds of every copy), copy_durations ((low, high):
    per-item base durations, default (1, 6)), authorization_lifetime (seconds), progress (bool),
    poll_retry_after (seconds), accept_any_token, model_limit, neural_limit, page_size, random_seed,
    rate_limits ("default" | "off" | dict), peers ({resource_id: endpoint}). None means the default.
    The process is terminated (then killed) on exit, also when the body raises; the emulator also exits
    by itself if its parent process dies.
    """
    port = port or free_port()
    resource_id = options.get("resource_id") or _process_resource_id(region, port)
    options["resource_id"] = resource_id
    argv = [sys.executable, "-m", "local.emulator", "--port", str(port), "--region", region, "--key", key]
    seed_argv, seed_file = _seed_args(seed)
    try:
        argv += seed_argv + _option_args(options)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        pythonpath = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": pythonpath}
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=err)  # noqa: S603
            endpoint = f"http://127.0.0.1:{port}"
            http = httpx.Client(base_url=endpoint, timeout=10.0)
            try:
                _wait_healthy(proc, http, err, port, startup_timeout)
                yield EmulatorHandle(endpoint, region, key, resource_id, proc.pid, http)
            finally:
                http.close()
                _stop(proc)
    finally:
        if seed_file:
            os.unlink(seed_file)
