"""The whole local stack on one machine: Azurite (in memory), one Document Intelligence emulator per
region (the source seeded from `sample-seed.json`), and function_app.py under the local runner with
app settings that point at them. Used by `docintel-dr local`, `make demo` and the runner tests.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.azurite import Azurite
    from local.emulator.process import EmulatorHandle
    from local.runner.host import FunctionHost

from shared.names import DEFAULT_SYNC_SCHEDULE, SYNC_SCHEDULE_SETTING

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SEED = ROOT / "local" / "sample-seed.json"
STATE_DIR = ROOT / ".local"
SOURCE_ALIAS = "primary"
SOURCE_REGION = "southcentralus"
TARGET_REGIONS = ("westus2", "northeurope")
EMULATOR_PORTS = (5100, 5101, 5102)
API_VERSION = "2024-11-30"
# How long local copies take: None = as the service's copies of small models, 1-6 s, drawn per item by
# the emulators (a number: that many seconds for every item, each copy within +-15 %). The app's
# poller reads the operation after FIRST_POLL seconds and then every MIN..MAX seconds, so a job ends
# about a second after its copy.
COPY_SECONDS: float | None = None
POLL_SETTINGS = {
    "DR_POLL__FIRST_DELAY_SECONDS": "2",
    "DR_POLL__MIN_DELAY_SECONDS": "1",
    "DR_POLL__MAX_DELAY_SECONDS": "3",
}


@dataclass
class StackOptions:
    runner_port: int = 7071
    # One port per region (source first); 0 picks a free port.
    emulator_ports: tuple[int, ...] = EMULATOR_PORTS
    azurite_ports: tuple[int, int, int] | None = None  # blob, queue, table; None = free ports
    source_region: str = SOURCE_REGION
    targets: tuple[str, ...] = TARGET_REGIONS
    copy_duration: float | None = COPY_SECONDS
    rate_limits: str = "default"
    seed: Path | None = SAMPLE_SEED
    function_key: str | None = None
    events_file: Path = STATE_DIR / "events.jsonl"
    settings_file: Path | None = STATE_DIR / "local.settings.json"
    webhooks: tuple[str, ...] = ()
    script: Path = ROOT / "function_app.py"
    extra_settings: dict[str, str] = field(default_factory=dict)


@dataclass
class Services:
    azurite: Azurite
    emulators: dict[str, EmulatorHandle]  # by alias


@dataclass
class LocalStack:
    services: Services
    host: FunctionHost
    values: dict[str, str]

    @property
    def emulators(self) -> dict[str, Any]:
        return self.services.emulators

    @property
    def api_url(self) -> str:
        return self.host.api_url

    @property
    def function_key(self) -> str:
        return self.host.function_key

    @property
    def events_file(self) -> Path:
        return self.host.sink.path

    def events(self) -> list[dict[str, Any]]:
        path = self.events_file
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@contextlib.contextmanager
def run_services(options: StackOptions) -> Iterator[Services]:
    """Azurite and the emulators; every process is stopped when the block ends."""
    from local.azurite import run_azurite
    from local.emulator.process import run_emulator_process

    regions = [(SOURCE_ALIAS, options.source_region)] + [(r.lower(), r) for r in options.targets]
    ports = list(options.emulator_ports) + [0] * max(0, len(regions) - len(options.emulator_ports))
    seed: Any = json.loads(options.seed.read_text(encoding="utf-8")) if options.seed else None
    with contextlib.ExitStack() as stack:
        azurite = stack.enter_context(run_azurite(ports=options.azurite_ports))
        emulators = {}
        for (alias, region), port in zip(regions, ports, strict=False):
            emulators[alias] = stack.enter_context(
                run_emulator_process(
                    region,
                    secrets.token_hex(16),
                    port=port,
                    seed=seed if alias == SOURCE_ALIAS else None,
                    copy_duration=options.copy_duration,
                    rate_limits=options.rate_limits,
                )
            )
        yield Services(azurite, emulators)


def app_settings(services: Services, options: StackOptions) -> dict[str, str]:
    """The app settings (local.settings.json `Values`) that point the app at the local services."""
    from local.runner.host import EVENTS_FILE_SETTING, FUNCTION_KEY_SETTING, WEBHOOKS_SETTING

    values = {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "AzureWebJobsStorage": services.azurite.connection_string,
        "DR_PRIMARY": SOURCE_ALIAS,
        "DR_SECONDARIES": ",".join(a for a in services.emulators if a != SOURCE_ALIAS),
        **POLL_SETTINGS,
        SYNC_SCHEDULE_SETTING: DEFAULT_SYNC_SCHEDULE,
        EVENTS_FILE_SETTING: str(options.events_file),
    }
    for alias, emulator in services.emulators.items():
        prefix = f"DR_RESOURCES__{alias.upper()}__"
        values[prefix + "ENDPOINT"] = emulator.endpoint
        values[prefix + "API_VERSION"] = API_VERSION
        values[prefix + "KEY"] = emulator.key
        values[prefix + "RESOURCE_ID"] = emulator.resource_id
        values[prefix + "REGION"] = emulator.region
    if options.function_key:
        values[FUNCTION_KEY_SETTING] = options.function_key
    if options.webhooks:
        values[WEBHOOKS_SETTING] = ",".join(options.webhooks)
    values.update(options.extra_settings)
    return values


class AppContextHooks:
    """Gives the app's context (shared.context) the runner's settings, to be built lazily in the
    runner's loop on first use as the worker builds it from environment variables, and closes it when
    the runner stops."""

    async def startup(self, values: dict[str, str]) -> None:
        from shared.context import use_settings
        from shared.settings import load_settings

        use_settings(load_settings(values))

    async def shutdown(self) -> None:
        from shared.context import close_context

        await close_context()


def write_settings_file(path: Path, values: dict[str, str], port: int) -> None:
    """A local.settings.json with the values the runner uses (for reference and for `func start`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"IsEncrypted": False, "Values": values, "Host": {"LocalHttpPort": port}}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)


def build_host(services: Services, options: StackOptions, *, host: str = "127.0.0.1") -> FunctionHost:
    from local.runner.host import host_for_script

    values = app_settings(services, options)
    hooks = AppContextHooks()
    runner = host_for_script(
        options.script,
        values,
        host=host,
        port=options.runner_port,
        events_file=options.events_file,
        startup=hooks.startup,
        shutdown=hooks.shutdown,
    )
    runner.bind()
    if options.settings_file is not None:
        write_settings_file(options.settings_file, runner.values, runner.port)
    return runner


@contextlib.contextmanager
def run_local_stack(options: StackOptions | None = None) -> Iterator[LocalStack]:
    """Everything, with the runner in a background thread (demo, tests)."""
    from local.runner.host import run_host_in_thread

    options = options or StackOptions()
    with run_services(options) as services:
        runner = build_host(services, options)
        with run_host_in_thread(runner):
            yield LocalStack(services, runner, runner.values)
