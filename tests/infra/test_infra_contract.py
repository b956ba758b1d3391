"""Contract between infra/ (Bicep, azd) and the app (shared/settings.py), checked offline.

The templates are parsed with pycep-parser and their expressions evaluated (tests/infra/infra_bicep.py)
for two deployments: existing Document Intelligence resources in other resource groups/subscriptions,
and the trial mode that creates them. What Azure alone knows (resource properties, module outputs) is
stubbed from a small fake of the accounts that exist.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from infra_bicep import (
    INFRA,
    REPO,
    Evaluator,
    InvalidParameter,
    Stubbed,
    TemplateFailure,
    bicep_files,
    check_parameters,
    decorator,
    parse,
)
from pydantic import SecretStr

from shared import settings as app_settings
from shared.names import SYNC_PAGES_QUEUE

MAIN = INFRA / "main.bicep"
APP = INFRA / "modules" / "app.bicep"
ACCESS = INFRA / "modules" / "docintel-access.bicep"
ACCOUNT = INFRA / "modules" / "docintel-account.bicep"

SUB = "00000000-0000-0000-0000-00000000000a"
TOKEN = "tok4abcdefghi"
CLIENT_ID = "11111111-1111-1111-1111-111111111111"
PRINCIPAL_ID = "22222222-2222-2222-2222-222222222222"
IDENTITY_ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id"
)
TOPIC_ENDPOINT = "https://evgt-tok.eastus-1.eventgrid.azure.net/api/events"

# Settings infra writes that the app does not read: each is read by the Functions host or a platform
# component, with the reason.
HOST_ONLY_SETTINGS = {
    # Host storage (leases, timers, deployment) is blob; the app itself uses only queues and tables.
    "AzureWebJobsStorage__blobServiceUri",
    # Identity-based host connection: use a managed identity (with __clientId, the user-assigned one).
    "AzureWebJobsStorage__credential",
    # Application Insights: the host's Entra ID auth with the identity (the app passes the identity
    # to the Azure Monitor distro itself).
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}
# Optional settings of the app that infra is expected to set (the required ones are checked too).
EXPECTED_OPTIONAL = {
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "AzureWebJobsStorage__clientId",
    "AZURE_CLIENT_ID",
    "DR_EVENTGRID_TOPIC_ENDPOINT",
    "DR_SYNC_SCHEDULE",
    "DR_RPO_TARGET_HOURS",
    # Telemetry to Application Insights (read by the host too).
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "DR_TELEMETRY",
}
EXPECTED_OPTIONAL_PER_ALIAS = {"API_VERSION", "RESOURCE_ID", "REGION"}
# Flex Consumption rejects these as app settings (runtime lives in functionAppConfig).
FLEX_FORBIDDEN = {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE"}

ROLE = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "EventGrid Data Sender": "d5a91429-5739-47e2-a06b-3470a27159e7",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Cognitive Services User": "a97b65f3-24c7-4388-baec-2e87135dc908",
}


def account_id(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}"


EXISTING = {
    account_id("sub-a", "rg-di-east", "di-east"): {
        "location": "eastus",
        "endpoint": "https://di-east.cognitiveservices.azure.com/",
    },
    account_id("sub-b", "rg-di-west", "di-west"): {
        "location": "westus2",
        "endpoint": "https://di-west.cognitiveservices.azure.com/",
    },
    account_id("sub-a", "rg-di-ne", "di-ne"): {
        "location": "northeurope",
        "endpoint": "https://di-ne.cognitiveservices.azure.com/",
    },
}
EXISTING_PARAMS = {
    "environmentName": "dr",
    "location": "eastus",
    "resourceGroupName": "",
    "createDocumentIntelligence": False,
    "primaryResource": {
        "alias": "Primary",
        "resourceId": account_id("sub-a", "rg-di-east", "di-east"),
        "endpoint": "https://di-east.cognitiveservices.azure.com/",
        "apiVersion": "2024-11-30",
    },
    "secondaryResources": [
        {
            "alias": "westus2",
            "resourceId": account_id("sub-b", "rg-di-west", "di-west"),
            "endpoint": "",
            "apiVersion": "2023-07-31",
        },
        {"alias": "northeurope", "resourceId": account_id("sub-a", "rg-di-ne", "di-ne")},
    ],
    "documentIntelligencePrimaryLocation": "",
    "documentIntelligenceSecondaryLocations": "",
    "documentIntelligenceApiVersion": "",
    "syncSchedule": "",
}
CREATE_PARAMS = {
    **EXISTING_PARAMS,
    "createDocumentIntelligence": True,
    "primaryResource": {},
    "secondaryResources": [],
    "documentIntelligenceSecondaryLocations": "westus2, NorthEurope",
    "syncSchedule": "0 30 1 * * *",
}


class Deployment:
    """main.bicep evaluated with parameters, its modules' outputs stubbed from a fake Azure."""

    def __init__(self, params: dict[str, Any], accounts: dict[str, dict[str, str]]) -> None:
        self.main = parse(MAIN)
        check_parameters(self.main, params)
        self.accounts = dict(accounts)
        self.ev = Evaluator(self.main, params, self._main_stub)
        self.rg_name = self.ev.eval(self.main["resources"]["rg"]["config"]["name"])
        # Accounts the template creates (trial mode) exist after deployment too.
        for created in self.instances("primaryAccount") + self.instances("secondaryAccounts"):
            p = created["params"]
            endpoint = f"https://{p['name']}.cognitiveservices.azure.com/"
            self.accounts[account_id(SUB, self.rg_name, p["name"])] = {
                "location": p["location"],
                "endpoint": endpoint,
            }
        self.access = self.instances("primaryAccess") + self.instances("secondaryAccess")
        self.app_params = self.ev.eval(self.main["modules"]["app"]["config"]["params"])
        self.app = parse(APP)
        self.app_ev = Evaluator(self.app, self.app_params, self._app_stub)
        site = self.app["resources"]["functionApp"]["config"]
        items = self.app_ev.eval(site["properties"]["siteConfig"]["appSettings"])
        self.setting_items = items
        self.settings = {item["name"]: item["value"] for item in items}

    def instances(self, module: str) -> list[dict[str, Any]]:
        config = self.main["modules"][module]["config"]
        if "loop_type" in config:
            return list(self.ev.eval(config))
        if "condition" in config:
            return [self.ev.eval(config["config"])] if self.ev.eval(config["condition"]) else []
        return [self.ev.eval(config)]

    def _account_of(self, instance: dict[str, Any]) -> str:
        scope = instance["scope"]
        assert isinstance(scope, dict), f"access module not scoped to a resource group: {scope}"
        return account_id(scope["subscriptionId"], scope["name"], instance["params"]["accountName"])

    def _main_stub(self, path: tuple[Any, ...]) -> Any:
        if path[0] == "subscription()":
            return {"id": f"/subscriptions/{SUB}", "subscriptionId": SUB}
        if path[0] == "tenant()":
            return {"tenantId": "tenant"}
        if path[0] == "unique_string()":
            return TOKEN
        if path[:2] == ("identity", "outputs") and len(path) == 3:
            return {"principalId": PRINCIPAL_ID, "clientId": CLIENT_ID, "id": IDENTITY_ID, "name": "id"}.get(
                path[2]
            )
        if path[0] in ("primaryAccess", "secondaryAccess"):
            if len(path) < 3 + (path[0] == "secondaryAccess"):
                return None
            index = path[1] if path[0] == "secondaryAccess" else 0
            instances = self.instances(path[0])
            resource_id = self._account_of(instances[index])
            assert resource_id in self.accounts, (
                f"{path[0]}[{index}] points to {resource_id}, which does not exist"
            )
            account = self.accounts[resource_id]
            return {"id": resource_id, "endpoint": account["endpoint"], "location": account["location"]}[
                path[-1]
            ]
        return None

    def _app_stub(self, path: tuple[Any, ...]) -> Any:
        if path[:3] == ("storage", "properties", "primaryEndpoints") and len(path) == 4:
            return f"https://st{TOKEN}.{path[3]}.core.windows.net/"
        if path == ("appInsights", "properties", "ConnectionString"):
            return "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x/"
        if path == ("topic", "properties", "endpoint"):
            return TOPIC_ENDPOINT
        if path[0] == "subscription_resource_id()":
            return f"roleDefinitions/{path[-1]}"
        return None


@pytest.fixture(scope="module", params=["existing", "create"])
def deployment(request: pytest.FixtureRequest) -> Deployment:
    if request.param == "existing":
        return Deployment(EXISTING_PARAMS, EXISTING)
    return Deployment(CREATE_PARAMS, {})


def test_every_template_parses() -> None:
    files = bicep_files()
    assert {f.name for f in files} >= {"main.bicep", "app.bicep", "docintel-access.bicep", "identity.bicep"}
    for path in files:
        assert parse(path), path


def test_only_local_modules() -> None:
    for path in bicep_files():
        for name, module in parse(path).get("modules", {}).items():
            assert module["type"] == "local", f"{path.name}: module {name} is not a local file"
            assert (path.parent / module["detail"]["path"]).is_file(), f"{path.name}: {name} missing"


# --- app settings ------------------------------------------------------------------------------


def test_app_settings_are_exactly_what_the_app_reads(deployment: Deployment) -> None:
    names = [item["name"] for item in deployment.setting_items]
    assert len(names) == len(set(names)), f"duplicate app settings: {names}"
    aliases = [deployment.settings["DR_PRIMARY"], *deployment.settings["DR_SECONDARIES"].split(",")]
    read = app_settings.setting_names(aliases)
    required = {name for name, is_required in read.items() if is_required}
    expected = (
        required
        | EXPECTED_OPTIONAL
        | {
            f"DR_RESOURCES__{alias.upper()}__{field}"
            for alias in aliases
            for field in EXPECTED_OPTIONAL_PER_ALIAS
        }
    )
    assert expected <= set(read), f"expected settings the app no longer reads: {sorted(expected - set(read))}"
    assert HOST_ONLY_SETTINGS.isdisjoint(read), "a host-only setting is now read by the app: move it"
    assert not expected - set(names), f"infra does not set: {sorted(expected - set(names))}"
    unknown = set(names) - set(read) - HOST_ONLY_SETTINGS
    assert not unknown, f"infra sets settings the app does not read: {sorted(unknown)}"
    assert not FLEX_FORBIDDEN & set(names)


def _secret_setting_names(aliases: list[str]) -> set[str]:
    """Names of settings the app reads into a SecretStr (keys, secrets, connection strings)."""
    secret_fields = {
        name.upper()
        for name, f in app_settings.ResourceSettings.model_fields.items()
        if SecretStr in _types(f)
    }
    names = {f"DR_RESOURCES__{a.upper()}__{field}" for a in aliases for field in secret_fields}
    for name, f in app_settings.Settings.model_fields.items():
        if SecretStr in _types(f):
            alias = f.validation_alias
            names.add(alias if isinstance(alias, str) else app_settings.PREFIX + name.upper())
    return names


def _types(field: Any) -> set[Any]:
    annotation = field.annotation
    return set(getattr(annotation, "__args__", ())) | {annotation}


def test_no_key_or_secret_setting(deployment: Deployment) -> None:
    aliases = [deployment.settings["DR_PRIMARY"], *deployment.settings["DR_SECONDARIES"].split(",")]
    secrets = _secret_setting_names(aliases)
    assert {"AzureWebJobsStorage", "DR_EVENTGRID_TOPIC_KEY", "DR_WEBHOOK_SECRET"} <= secrets
    assert f"DR_RESOURCES__{aliases[0].upper()}__KEY" in secrets
    assert not secrets & set(deployment.settings), (
        "infra must not set keys: the app uses the managed identity"
    )


def test_settings_object_loads_what_infra_writes(deployment: Deployment) -> None:
    loaded = app_settings.load_settings(deployment.settings)
    assert loaded.storage_connection_string is None
    assert loaded.storage_queue_service_uri == f"https://st{TOKEN}.queue.core.windows.net/"
    assert loaded.storage_table_service_uri == f"https://st{TOKEN}.table.core.windows.net/"
    assert loaded.storage_client_id == CLIENT_ID == loaded.managed_identity_client_id
    assert loaded.eventgrid_topic_endpoint == TOPIC_ENDPOINT
    assert loaded.eventgrid_topic_key is None
    assert loaded.telemetry_exporter == "azure-monitor" and loaded.applicationinsights_connection_string
    assert all(r.key is None for r in loaded.resources.values())  # managed identity
    assert deployment.settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert deployment.settings["AzureWebJobsStorage__clientId"] == CLIENT_ID
    assert (
        deployment.settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
        == f"ClientId={CLIENT_ID};Authorization=AAD"
    )
    # Every configured resource's id is one the identity was granted Cognitive Services User on.
    granted = {deployment._account_of(i) for i in deployment.access}
    assert {r.resource_id for r in loaded.resources.values()} == granted
    for r in loaded.resources.values():
        assert r.resource_id in deployment.accounts
        assert r.region == deployment.accounts[r.resource_id]["location"]


def test_existing_resources_mode() -> None:
    loaded = app_settings.load_settings(Deployment(EXISTING_PARAMS, EXISTING).settings)
    assert loaded.primary == "primary"
    assert loaded.secondaries == ["westus2", "northeurope"]
    west = loaded.resource("westus2")
    assert west.endpoint == "https://di-west.cognitiveservices.azure.com"  # empty endpoint: the account's
    assert west.api_version == "2023-07-31"
    assert loaded.resource("northeurope").api_version == app_settings.DEFAULT_API_VERSION
    assert loaded.sync_schedule == app_settings.DEFAULT_SYNC_SCHEDULE


def test_trial_mode_creates_accounts() -> None:
    deployment = Deployment(CREATE_PARAMS, {})
    loaded = app_settings.load_settings(deployment.settings)
    assert loaded.secondaries == ["westus2", "northeurope"]
    assert loaded.resource("northeurope").region == "northeurope"
    assert loaded.resource("primary").region == "eastus"
    assert loaded.sync_schedule == "0 30 1 * * *"
    account = parse(ACCOUNT)["resources"]["account"]
    assert account["config"]["kind"] == "FormRecognizer"
    assert account["config"]["sku"]["name"] == "S0"
    assert account["config"]["properties"]["disableLocalAuth"] is True
    assert account["config"]["properties"]["customSubDomainName"] == "name"


# --- queues and tables -----------------------------------------------------------------------


def test_queue_and_table_names_match_the_app(deployment: Deployment) -> None:
    resources = deployment.app["resources"]
    queue_loop = resources["queues"]["config"]
    assert resources["queues"]["type"] == "Microsoft.Storage/storageAccounts/queueServices/queues"
    queues = deployment.app_ev.eval(queue_loop)
    names = {q["name"] for q in queues}
    base = {app_settings.COPY_REQUESTS_QUEUE, app_settings.COPY_POLLS_QUEUE, SYNC_PAGES_QUEUE}
    assert names == base | {q + app_settings.POISON_SUFFIX for q in base}
    tables = {
        deployment.app_ev.eval(r["config"]["name"])
        for r in resources.values()
        if r["type"] == "Microsoft.Storage/storageAccounts/tableServices/tables"
    }
    fields = app_settings.Settings.model_fields
    assert tables == {fields["jobs_table"].default, fields["state_table"].default}
    assert app_settings.STORAGE_CONNECTION == "AzureWebJobsStorage"
    assert all(
        n.startswith(app_settings.STORAGE_CONNECTION + "__") for n in deployment.settings if "Storage" in n
    )
    assert deployment.settings[app_settings.SYNC_SCHEDULE_SETTING]


# --- identity and roles ------------------------------------------------------------------------


def _role_assignments(template: dict[str, Any], ev: Evaluator) -> set[tuple[str, str, str, str]]:
    """(scope resource type, role definition id, principal, principal type) of every role assignment
    that the parameters deploy (a conditional one only when its condition holds)."""
    out = set()
    resources = template["resources"]
    for name, r in resources.items():
        if r["type"] != "Microsoft.Authorization/roleAssignments":
            continue
        config = r["config"]
        if "condition" in config:
            if not ev.eval(config["condition"]):
                continue
            config = config["config"]
        scope = config.get("scope")
        assert isinstance(scope, str) and scope in resources, (
            f"{name}: scope must be a resource of the template"
        )
        props = ev.eval(config["properties"])
        role = props["roleDefinitionId"].removeprefix("roleDefinitions/")
        out.add((resources[scope]["type"], role, props["principalId"], props["principalType"]))
    return out


def _grants(template: dict[str, Any], ev: Evaluator) -> set[tuple[str, str, str]]:
    """The role assignments of the app's managed identity (a service principal)."""
    got = _role_assignments(template, ev)
    assert all(kind == "ServicePrincipal" for _, _, p, kind in got if p == PRINCIPAL_ID)
    return {(scope, role, principal) for scope, role, principal, _ in got}


def test_roles_in_the_app_resource_group(deployment: Deployment) -> None:
    assert deployment.app_params["identityPrincipalId"] == PRINCIPAL_ID
    got = _grants(deployment.app, deployment.app_ev)
    assert got == {
        ("Microsoft.Storage/storageAccounts", ROLE["Storage Blob Data Owner"], PRINCIPAL_ID),
        ("Microsoft.Storage/storageAccounts", ROLE["Storage Queue Data Contributor"], PRINCIPAL_ID),
        ("Microsoft.Storage/storageAccounts", ROLE["Storage Table Data Contributor"], PRINCIPAL_ID),
        ("Microsoft.EventGrid/topics", ROLE["EventGrid Data Sender"], PRINCIPAL_ID),
        ("Microsoft.Insights/components", ROLE["Monitoring Metrics Publisher"], PRINCIPAL_ID),
    }


def test_cognitive_services_user_on_every_document_intelligence_account(deployment: Deployment) -> None:
    template = parse(ACCESS)
    ev = Evaluator(
        template,
        {"principalId": PRINCIPAL_ID, "accountName": "x"},
        lambda p: f"roleDefinitions/{p[-1]}" if p[0] == "subscription_resource_id()" else None,
    )
    assert _grants(template, ev) == {
        ("Microsoft.CognitiveServices/accounts", ROLE["Cognitive Services User"], PRINCIPAL_ID)
    }
    account = template["resources"]["account"]
    assert account["existing"] is True and account["config"]["name"] == "accountName"
    # One access module per configured resource, scoped to that resource's own resource group.
    n_resources = 1 + len(deployment.settings["DR_SECONDARIES"].split(","))
    assert len(deployment.access) == n_resources
    for instance in deployment.access:
        assert instance["params"]["principalId"] == PRINCIPAL_ID
        assert deployment._account_of(instance) in deployment.accounts


def test_one_user_assigned_identity_for_everything(deployment: Deployment) -> None:
    site = deployment.app_ev.eval(deployment.app["resources"]["functionApp"]["config"])
    assert site["identity"]["type"] == "UserAssigned"
    assert list(site["identity"]["userAssignedIdentities"]) == [IDENTITY_ID]
    storage = site["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": IDENTITY_ID,
    }
    assert storage["value"] == f"https://st{TOKEN}.blob.core.windows.net/deploymentpackage"
    assert deployment.app_params["identityId"] == IDENTITY_ID
    assert deployment.app_params["identityClientId"] == CLIENT_ID


# --- resource properties -----------------------------------------------------------------------


def test_flex_consumption_and_resource_hardening() -> None:
    r = {name: res["config"] for name, res in parse(APP)["resources"].items()}
    assert r["plan"]["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = r["functionApp"]
    assert site["kind"] == "functionapp,linux" and site["properties"]["httpsOnly"] is True
    assert site["properties"]["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    storage = r["storage"]["properties"]
    assert storage["allowSharedKeyAccess"] is False
    assert storage["allowBlobPublicAccess"] is False
    assert storage["minimumTlsVersion"] == "TLS1_2"
    assert storage["supportsHttpsTrafficOnly"] is True
    topic = r["topic"]["properties"]
    assert topic == {**topic, "inputSchema": "CloudEventSchemaV1_0", "disableLocalAuth": True}
    insights = r["appInsights"]["properties"]
    assert insights["DisableLocalAuth"] is True and insights["WorkspaceResourceId"]


def test_azd_tags(deployment: Deployment) -> None:
    assert deployment.ev.eval("tags") == {"azd-env-name": "dr"}
    site = deployment.app_ev.eval(deployment.app["resources"]["functionApp"]["config"])
    assert site["tags"]["azd-service-name"] == "api"
    for path in (APP, ACCOUNT, INFRA / "modules" / "identity.bicep"):
        for name, res in parse(path)["resources"].items():
            config = res["config"].get("config", res["config"])
            if "location" in config:
                assert "tags" in config, f"{path.name}: {name} has no tags"


# --- no secrets out ---------------------------------------------------------------------------

_SECRETISH = re.compile(r"key|secret|password|connectionstring|token|sas", re.IGNORECASE)


def test_no_secret_or_key_output_or_listkeys() -> None:
    for path in bicep_files():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\blist[A-Z]\w*\s*\(", text), f"{path.name}: list*() exposes keys"
        for name, output in parse(path).get("outputs", {}).items():
            assert not _SECRETISH.search(name), f"{path.name}: output {name}"
            dumped = json.dumps(output["value"])
            assert not _SECRETISH.search(dumped.replace("resourceToken", "")), f"{path.name}: output {name}"
            assert not any(d.get("type") == "secure" for d in output.get("decorators", []))


# --- azd files ---------------------------------------------------------------------------------


def test_azure_yaml() -> None:
    doc = yaml.safe_load((REPO / "azure.yaml").read_text(encoding="utf-8"))
    assert doc["services"]["api"] == {"project": ".", "language": "python", "host": "function"}
    assert doc["infra"]["provider"] == "bicep" and doc["infra"]["path"] == "infra"


def test_parameters_file_matches_main() -> None:
    doc = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    given = doc["parameters"]
    declared = parse(MAIN)["parameters"]
    assert set(given) <= set(declared), f"unknown parameters: {sorted(set(given) - set(declared))}"
    without_default = {n for n, p in declared.items() if p.get("default") is None}
    assert without_default <= set(given), f"not given: {sorted(without_default - set(given))}"
    assert given["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert given["location"]["value"] == "${AZURE_LOCATION}"


def test_stubbed_values_do_not_leak(deployment: Deployment) -> None:
    for item in deployment.setting_items:
        assert not isinstance(item["value"], Stubbed), item
        assert "${" not in str(item["value"]), item


# --- where and how big: Flex Consumption regions and scale limits -------------------------------

# The regions of the official Flex Consumption quickstart's `location` (@allowed in
# Azure-Samples/functions-quickstart-python-http-azd, infra/main.bicep), which main.bicep copies.
FLEX_REGIONS = {
    "australiaeast", "australiasoutheast", "brazilsouth", "canadacentral", "centralindia", "centralus",
    "eastasia", "eastus", "eastus2", "eastus2euap", "francecentral", "germanywestcentral", "italynorth",
    "japaneast", "koreacentral", "northcentralus", "northeurope", "norwayeast", "southafricanorth",
    "southcentralus", "southeastasia", "southindia", "spaincentral", "swedencentral", "uaenorth",
    "uksouth", "ukwest", "westcentralus", "westeurope", "westus", "westus2", "westus3",
}  # fmt: skip


def test_location_is_a_flex_consumption_region() -> None:
    spec = parse(MAIN)["parameters"]["location"]
    allowed = decorator(spec, "allowed")
    assert set(allowed) == FLEX_REGIONS and len(allowed) == len(FLEX_REGIONS)
    assert decorator(spec, "metadata") == {"azd": {"type": "location"}}, "azd should offer only these"
    assert "functions-quickstart-python-http-azd" in MAIN.read_text(encoding="utf-8"), "name the source"
    for region in ("eastus", "westus2", "northeurope"):
        Deployment({**EXISTING_PARAMS, "location": region}, EXISTING)
    for region in ("westindia", "chinaeast2", "EastUS", ""):
        with pytest.raises(InvalidParameter, match="location"):
            Deployment({**EXISTING_PARAMS, "location": region}, EXISTING)


def test_flex_consumption_scale_limits() -> None:
    params = parse(MAIN)["parameters"]
    count, memory = params["maximumInstanceCount"], params["instanceMemoryMB"]
    assert (decorator(count, "min_value"), decorator(count, "max_value")) == (1, 1000)
    assert sorted(decorator(memory, "allowed")) == [512, 2048, 4096]
    for ok in ({"maximumInstanceCount": 1}, {"maximumInstanceCount": 1000}, {"instanceMemoryMB": 512},
               {"instanceMemoryMB": 4096}):  # fmt: skip
        deployment = Deployment({**EXISTING_PARAMS, **ok}, EXISTING)
        site = deployment.app_ev.eval(deployment.app["resources"]["functionApp"]["config"])
        scale = site["properties"]["functionAppConfig"]["scaleAndConcurrency"]
        assert scale.items() >= ok.items()
    for bad in ({"maximumInstanceCount": 0}, {"maximumInstanceCount": 1001}, {"instanceMemoryMB": 1024},
                {"instanceMemoryMB": 8192}):  # fmt: skip
        with pytest.raises(InvalidParameter, match=next(iter(bad))):
            Deployment({**EXISTING_PARAMS, **bad}, EXISTING)


# --- the deploying user: what the docintel-dr CLI needs ------------------------------------------

USER_ID = "33333333-3333-3333-3333-333333333333"


def test_the_cli_touches_only_tables_and_document_intelligence() -> None:
    """The user's grants below are what shared/cli.py uses: its tables (created when missing) and the
    Document Intelligence clients. If the CLI starts sending queue messages or publishing events,
    grant the matching role to the user in infra/ and change this test."""
    cli = (REPO / "shared" / "cli.py").read_text(encoding="utf-8")
    assert "table_client(" in cli and "ensure_table(" in cli  # Table Data Contributor (create, write)
    assert "build_clients(" in cli  # Cognitive Services User
    for unused in ("queue_client(", "QueueSender(", "build_events(", "build_app_context("):
        assert unused not in cli, f"the CLI now uses {unused}: grant the deploying user its role"


def test_deploying_user_gets_the_cli_roles_when_principal_id_is_set() -> None:
    params = {**CREATE_PARAMS, "principalId": USER_ID, "principalType": "User"}
    deployment = Deployment(params, {})
    user = {g for g in _role_assignments(deployment.app, deployment.app_ev) if g[2] == USER_ID}
    assert user == {
        ("Microsoft.Storage/storageAccounts", ROLE["Storage Table Data Contributor"], USER_ID, "User")
    }
    account = parse(ACCOUNT)
    created = deployment.instances("primaryAccount") + deployment.instances("secondaryAccounts")
    assert len(created) == 3
    for instance in created:
        ev = Evaluator(account, instance["params"], _role_stub)
        user = {g for g in _role_assignments(account, ev) if g[2] == USER_ID}
        assert user == {
            ("Microsoft.CognitiveServices/accounts", ROLE["Cognitive Services User"], USER_ID, "User")
        }
    # azd runs as a service principal in CI: the type follows AZURE_PRINCIPAL_TYPE.
    ci = Deployment({**params, "principalType": "ServicePrincipal"}, {})
    assert {g[3] for g in _role_assignments(ci.app, ci.app_ev) if g[2] == USER_ID} == {"ServicePrincipal"}
    with pytest.raises(InvalidParameter, match="principalType"):
        Deployment({**params, "principalType": "Device"}, {})


def test_deploying_user_roles_are_conditional_on_principal_id(deployment: Deployment) -> None:
    for template in (deployment.app, parse(ACCOUNT)):
        user_grants = [
            r["config"]
            for r in template["resources"].values()
            if r["type"] == "Microsoft.Authorization/roleAssignments"
            and "userPrincipalId" in json.dumps(r["config"])
        ]
        assert user_grants, "no role assignment for the deploying user"
        for config in user_grants:
            assert config.get("condition") == {
                "operator": {
                    "type": "not",
                    "operands": {
                        "bool_value": {
                            "function": {"type": "empty", "parameters": {"item_to_test": "userPrincipalId"}}
                        }
                    },
                }
            }, "grant the user only when principalId is set"
    # Without principalId (the fixtures), nothing is granted to anyone but the app's identity.
    assert deployment.app_params["userPrincipalId"] == ""
    assert {g[2] for g in _role_assignments(deployment.app, deployment.app_ev)} == {PRINCIPAL_ID}
    for instance in deployment.instances("primaryAccount") + deployment.instances("secondaryAccounts"):
        assert instance["params"]["userPrincipalId"] == ""
        assert not _role_assignments(
            parse(ACCOUNT), Evaluator(parse(ACCOUNT), instance["params"], _role_stub)
        )


def test_existing_accounts_grant_the_user_nothing() -> None:
    """Accounts the template did not create belong to someone else: the user is not granted there."""
    deployment = Deployment({**EXISTING_PARAMS, "principalId": USER_ID}, EXISTING)
    assert not deployment.instances("primaryAccount") and not deployment.instances("secondaryAccounts")
    access = parse(ACCESS)
    for instance in deployment.access:
        assert "userPrincipalId" not in instance["params"]
        grants = _role_assignments(access, Evaluator(access, instance["params"], _role_stub))
        assert {g[2] for g in grants} == {PRINCIPAL_ID}


def test_principal_id_comes_from_azd() -> None:
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert given["principalId"]["value"] == "${AZURE_PRINCIPAL_ID}"
    assert given["principalType"]["value"] == "${AZURE_PRINCIPAL_TYPE=User}"
    declared = parse(MAIN)["parameters"]
    assert declared["principalId"]["default"] == "" and declared["principalType"]["default"] == "User"


def _role_stub(path: tuple[Any, ...]) -> Any:
    return f"roleDefinitions/{path[-1]}" if path[0] == "subscription_resource_id()" else None


# --- existing resources: a missing one fails early, naming the parameter ------------------------

HINT = "DR_CREATE_DOCUMENT_INTELLIGENCE=false"
WEST_ID = account_id("sub-b", "rg-di-west", "di-west")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"primaryResource": {}, "secondaryResources": []}, "primaryResource.resourceId"),
        ({"primaryResource": {"alias": "primary"}}, "primaryResource.resourceId"),
        ({"primaryResource": {"alias": "primary", "resourceId": "di-east"}}, "primaryResource.resourceId"),
        (
            {"primaryResource": {"resourceId": account_id("sub-a", "rg-di-east", "di-east")}},
            "primaryResource.alias",
        ),
        ({"secondaryResources": []}, "secondaryResources is empty"),
        (
            {"secondaryResources": [{"alias": "westus2", "resourceId": WEST_ID}, {"alias": "ne"}]},
            "secondaryResources[1].resourceId",
        ),
        (
            {"secondaryResources": [{"resourceId": WEST_ID}]},
            "secondaryResources[0].alias",
        ),
    ],
)
def test_missing_existing_resource_fails_early_naming_the_parameter(
    change: dict[str, Any], named: str
) -> None:
    with pytest.raises(TemplateFailure) as failure:
        Deployment({**EXISTING_PARAMS, **change}, EXISTING)
    message = str(failure.value)
    assert named in message and HINT in message and "infra/main.parameters.json" in message
    assert "<sub>" not in message or "Microsoft.CognitiveServices/accounts/<name>" in message


def test_resource_ids_are_checked_before_any_use() -> None:
    """Every split() of a resource id reads a checked id, and the checks read parameters only, so Azure
    evaluates them when it validates the deployment, before creating anything."""
    main = parse(MAIN)
    for module, checked in (
        ("primaryAccess", "primaryResourceId"),
        ("secondaryAccess", "secondaryResourceIds"),
    ):
        config = main["modules"][module]["config"]
        config = config.get("config", config)
        used = json.dumps([config["scope"], config["params"]["accountName"]])
        assert checked in used and "resourceId" not in used.replace(checked, ""), module
    code = [
        line for line in MAIN.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("//")
    ]
    splits = re.findall(r"split\(([^,\n]+),", "\n".join(code))
    assert set(splits) == {
        "primaryResourceId", "secondaryResourceIds[i]", "primarySpec.resourceId", "s.resourceId",
        "toLower(replace(secondaryLocationList",
    }, splits  # fmt: skip

    def params_only(path: tuple[Any, ...]) -> Any:
        if path[0] in ("subscription()", "unique_string()"):  # known before deploying
            return {"id": f"/subscriptions/{SUB}"} if path[0] == "subscription()" else TOKEN
        raise AssertionError(f"a resource id check reads {path}, which Azure knows only while deploying")

    for params in (EXISTING_PARAMS, CREATE_PARAMS):
        ev = Evaluator(main, params, params_only)
        ids = [ev.variable("primaryResourceId"), *ev.variable("secondaryResourceIds")]
        assert all(len(i.split("/")) == 9 for i in ids)
    with pytest.raises(TemplateFailure, match="primaryResource"):
        Evaluator(main, {**EXISTING_PARAMS, "primaryResource": {}}, params_only).variable("primaryResourceId")


def test_trial_mode_needs_no_resource_parameters() -> None:
    deployment = Deployment({**CREATE_PARAMS, "primaryResource": {}, "secondaryResources": []}, {})
    assert len(deployment.access) == 3
