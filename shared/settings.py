"""The app's one settings object, read from app settings (environment variables).

Every setting name is defined here once. `infra/` writes the same names, and `local.settings.json`
(``Values``) uses them for local runs. Resources are configured by alias::

    DR_PRIMARY=primary
    DR_SECONDARIES=westus2,northeurope
    DR_RESOURCES__PRIMARY__ENDPOINT=https://di-primary.cognitiveservices.azure.com
    DR_RESOURCES__PRIMARY__API_VERSION=2024-11-30
    DR_RESOURCES__PRIMARY__KEY=...            # optional: without it, Microsoft Entra ID is used
    DR_RESOURCES__WESTUS2__ALLOW_DEGRADE=true # optional: allow CMK -> non-CMK copies into this target

Aliases are lower-cased. Missing or invalid settings fail with one `SettingsError` that lists each
problem by its setting name, never by its value (values may be keys).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# Queue names and the like are defined once, in shared.names, and re-exported here.
from shared.docintel.versions import DEFAULT_API_VERSION, normalize_api_version
from shared.names import (  # noqa: F401
    COPY_POLLS_QUEUE,
    COPY_REQUESTS_QUEUE,
    DEFAULT_SYNC_SCHEDULE,
    POISON_SUFFIX,
    STORAGE_CONNECTION,
    SYNC_SCHEDULE_SETTING,
)

PREFIX = "DR_"


ALIAS_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class SettingsError(ValueError):
    """Raised when app settings are missing or invalid; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"docintel-dr is not configured correctly ({len(problems)} problem(s)):\n{lines}\n"
            "Set these app settings (locally: environment variables or the Values of local.settings.json; "
            "see local.settings.json.example)."
        )


class ResourceSettings(BaseModel):
    """One Document Intelligence resource, known to the app by its alias."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str
    api_version: str = DEFAULT_API_VERSION
    key: SecretStr | None = None
    allow_degrade: bool = False
    # ARM id and region of the resource. Needed only by v2.1 targets, whose copy authorization
    # does not carry them (the source must be told where the target is).
    resource_id: str | None = None
    region: str | None = None
    management_per_second: float | None = Field(default=5.0, gt=0)
    list_per_second: float | None = Field(default=10.0, gt=0)
    status_per_second: float | None = Field(default=50.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an absolute URL such as https://<name>.cognitiveservices.azure.com")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
            raise ValueError("must use https (plain http is allowed only for local emulators on loopback)")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"

    @field_validator("api_version")
    @classmethod
    def _api_version(cls, value: str) -> str:
        return normalize_api_version(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None


class PollPolicy(BaseModel):
    """Bounds of the poller's adaptive delay between status reads."""

    first_delay_seconds: float = Field(default=1.0, ge=0, le=600)
    min_delay_seconds: float = Field(default=1.0, ge=0.1, le=600)
    max_delay_seconds: float = Field(default=30.0, ge=1, le=3600)
    deadline_hours: float = Field(default=24.0, gt=0, le=24 * 7)

    @property
    def deadline(self) -> timedelta:
        return timedelta(hours=self.deadline_hours)


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """All configuration of docintel-dr. Build it with `load_settings()`."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="ignore",
        env_ignore_empty=True,
        frozen=True,
        populate_by_name=True,
    )

    primary: str
    secondaries: CommaList
    resources: dict[str, ResourceSettings]

    # Storage: the host's own connection, reused by the app's SDK clients. Locally a connection
    # string; in Azure identity-based service URIs (and the user-assigned identity's client id).
    storage_connection_string: SecretStr | None = Field(default=None, validation_alias="AzureWebJobsStorage")
    storage_queue_service_uri: str | None = Field(
        default=None, validation_alias="AzureWebJobsStorage__queueServiceUri"
    )
    storage_table_service_uri: str | None = Field(
        default=None, validation_alias="AzureWebJobsStorage__tableServiceUri"
    )
    storage_client_id: str | None = Field(default=None, validation_alias="AzureWebJobsStorage__clientId")
    # Client id of the user-assigned managed identity used for Document Intelligence and Event Grid.
    managed_identity_client_id: str | None = Field(default=None, validation_alias="AZURE_CLIENT_ID")

    jobs_table: str = Field(default="copyjobs", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")
    state_table: str = Field(default="drstate", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")

    poll: PollPolicy = PollPolicy()
    # A stored authorization that expires within this margin is replaced before copyTo. Real v3/v4
    # authorizations live one hour (v2.1: 24 h), and copyTo follows authorization within seconds
    # unless the job waited in the queue.
    authorization_margin_minutes: float = Field(default=5, ge=0, le=50)
    # Finished jobs are deleted this many days after they were created (shared.copy.retention).
    job_retention_days: int = Field(default=30, ge=1, le=3650)
    # Recovery point objective: an item missing or stale at a target for longer than this is outside
    # it. infra/ writes the same value into the exposure alert and the workbook.
    rpo_target_hours: float = Field(default=24, gt=0, le=8760)
    # Base URL of this app's HTTP API, used for status links when the request does not tell it.
    public_base_url: str | None = None

    eventgrid_topic_endpoint: str | None = None
    eventgrid_topic_key: SecretStr | None = None

    webhook_secret: SecretStr | None = None

    # Where traces and metrics go (shared.telemetry): `azure-monitor` (Application Insights, Entra ID
    # with the managed identity), `console`, `otlp` (the standard OTEL_EXPORTER_OTLP_* variables), `none`;
    # `auto` is azure-monitor when APPLICATIONINSIGHTS_CONNECTION_STRING is set, else none.
    telemetry: Literal["auto", "azure-monitor", "console", "otlp", "none"] = "auto"
    # Read by the Functions host too; the app hands it to the Azure Monitor distro.
    applicationinsights_connection_string: str | None = Field(
        default=None, validation_alias="APPLICATIONINSIGHTS_CONNECTION_STRING"
    )
    # The Functions Python worker's own switch: when on, the worker makes the host's invocation span
    # current and claims the worker's log records (the host stops relaying them), so the app exports
    # them itself. Off by default: see README, Telemetry.
    worker_opentelemetry: bool = Field(default=False, validation_alias="PYTHON_ENABLE_OPENTELEMETRY")

    sync_schedule: str = DEFAULT_SYNC_SCHEDULE
    #: Copies a sync submits per invocation; the rest continue in pages of this size (sync-pages).
    sync_page_size: int = Field(default=500, ge=1, le=5_000)
    sync_prune: bool = False
    sync_include: CommaList = Field(default_factory=lambda: ["*"])
    sync_exclude: CommaList = Field(default_factory=list)
    sync_include_tags: CommaList = Field(default_factory=list)
    sync_exclude_tags: CommaList = Field(default_factory=list)

    @field_validator("primary", mode="before")
    @classmethod
    def _primary(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator(
        "secondaries", "sync_include", "sync_exclude", "sync_include_tags", "sync_exclude_tags", mode="before"
    )
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("secondaries")
    @classmethod
    def _secondaries(cls, value: list[str]) -> list[str]:
        aliases = [v.lower() for v in value]
        if not aliases:
            raise ValueError("name at least one secondary resource alias")
        if len(set(aliases)) != len(aliases):
            raise ValueError("lists an alias twice")
        return aliases

    @field_validator("resources")
    @classmethod
    def _aliases(cls, value: dict[str, ResourceSettings]) -> dict[str, ResourceSettings]:
        bad = [alias for alias in value if not ALIAS_PATTERN.match(alias.lower())]
        if bad:
            raise ValueError(f"invalid alias(es) {bad}: use 1-32 lower-case letters, digits or '-'")
        return {alias.lower(): res for alias, res in value.items()}

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems: list[str] = []
        known = sorted(self.resources)
        if self.primary not in self.resources:
            problems.append(f"DR_PRIMARY names '{self.primary}', which is not configured (known: {known})")
        for alias in self.secondaries:
            if alias not in self.resources:
                problems.append(f"DR_SECONDARIES names '{alias}', which is not configured (known: {known})")
        if self.primary in self.secondaries:
            problems.append("DR_SECONDARIES must not include the primary")
        if self.storage_connection_string is None and not (
            self.storage_queue_service_uri and self.storage_table_service_uri
        ):
            problems.append(
                "storage is not configured: set AzureWebJobsStorage (a connection string) or both "
                "AzureWebJobsStorage__queueServiceUri and AzureWebJobsStorage__tableServiceUri"
            )
        if self.poll.min_delay_seconds > self.poll.max_delay_seconds:
            problems.append("DR_POLL__MIN_DELAY_SECONDS must not exceed DR_POLL__MAX_DELAY_SECONDS")
        if self.telemetry == "azure-monitor" and not self.applicationinsights_connection_string:
            problems.append(
                "DR_TELEMETRY=azure-monitor needs APPLICATIONINSIGHTS_CONNECTION_STRING (the Application "
                "Insights resource's connection string)"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # --- convenience -------------------------------------------------------------------------

    def resource(self, alias: str) -> ResourceSettings:
        return self.resources[alias]

    @property
    def aliases(self) -> list[str]:
        return sorted(self.resources)

    @property
    def authorization_margin(self) -> timedelta:
        return timedelta(minutes=self.authorization_margin_minutes)

    @property
    def telemetry_exporter(self) -> str:
        """DR_TELEMETRY with `auto` resolved: azure-monitor, console, otlp or none."""
        if self.telemetry != "auto":
            return self.telemetry
        return "azure-monitor" if self.applicationinsights_connection_string else "none"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)


class _MappingSource(EnvSettingsSource):
    """Reads settings from a given mapping instead of `os.environ` (tests, local.settings.json)."""

    def __init__(self, settings_cls: type[BaseSettings], values: Mapping[str, str]) -> None:
        self._values = values
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._values.items()}


def _setting_name(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "settings"
    head = str(loc[0])
    if head.startswith(("AzureWebJobsStorage", "AZURE_", "APPLICATIONINSIGHTS_", "PYTHON_")):
        return head
    return PREFIX + "__".join(str(part).upper() for part in loc)


def read_local_settings(path: Path) -> dict[str, str]:
    """The ``Values`` of a local.settings.json file (the Functions host's local settings format)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SettingsError([f"{path} is not valid JSON (line {exc.lineno}): fix or delete it"]) from None
    values = document.get("Values", {}) if isinstance(document, dict) else {}
    return {str(k): str(v) for k, v in values.items() if v is not None}


def load_settings(
    environ: Mapping[str, str] | None = None, *, local_settings: Path | None = None
) -> Settings:
    """Build the settings object from app settings (the environment by default).

    `local_settings` (a local.settings.json file) fills in what the environment lacks."""
    values: dict[str, str] = {}
    if local_settings is not None and local_settings.exists():
        values.update(read_local_settings(local_settings))
    values.update(os.environ if environ is None else environ)

    class _Loaded(Settings):
        @classmethod
        def settings_customise_sources(  # type: ignore[override]
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, **_: Any
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, _MappingSource(settings_cls, values))

    try:
        loaded = _Loaded()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "is required but not set"
            if not error["loc"]:
                problems.extend(message.split("; "))
            elif error["loc"] == ("resources",) and error["type"] == "missing":
                problems.append(
                    "no Document Intelligence resource is configured: set DR_RESOURCES__<ALIAS>__ENDPOINT "
                    "(and __KEY, or nothing for Microsoft Entra ID) for the primary and each secondary"
                )
            else:
                problems.append(f"{_setting_name(error['loc'])}: {message}")
        raise SettingsError(problems) from None
    return Settings.model_construct(**dict(loaded))


def setting_names(aliases: list[str]) -> dict[str, bool]:
    """Every app setting name the settings object reads, for the given resource aliases, and whether
    it is required. `infra/` is checked against this."""
    names: dict[str, bool] = {}
    for field_name, field in Settings.model_fields.items():
        annotation = field.annotation
        if field_name == "resources":
            for alias in aliases:
                for sub_name, sub in ResourceSettings.model_fields.items():
                    names[f"{PREFIX}RESOURCES__{alias.upper()}__{sub_name.upper()}"] = sub.is_required()
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub_name in annotation.model_fields:
                names[f"{PREFIX}{field_name.upper()}__{sub_name.upper()}"] = False
        else:
            env_alias = field.validation_alias
            name = env_alias if isinstance(env_alias, str) else PREFIX + field_name.upper()
            names[name] = field.is_required()
    return names


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of the running function app, read once per process."""
    return load_settings()
