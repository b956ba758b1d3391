"""Alerts and the DR workbook (infra/modules/monitoring.bicep, infra/workbooks/dr.workbook.json), offline.

main.bicep is evaluated as in test_infra_contract, then the monitoring module with the parameters main
passes it. Checked: the four alert rules (their queries, thresholds wired to the parameters, scope,
identity, action group), the action group's receivers, the alert identity's roles, the workbook JSON
and the queries' metric names and dimensions against the app's telemetry.

The metric names and dimensions come from shared/telemetry.py when it exists; until then, from
TELEMETRY_METRICS below, the contract the telemetry is being written to.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from infra_bicep import (
    INFRA,
    REPO,
    Evaluator,
    InvalidParameter,
    Stubbed,
    TemplateFailure,
    decorator,
    parse,
)
from test_infra_contract import CREATE_PARAMS, EXISTING, EXISTING_PARAMS, SUB, Deployment

from local.runner.schedules import parse_ncrontab
from shared import settings as app_settings

MAIN = INFRA / "main.bicep"
MONITORING = INFRA / "modules" / "monitoring.bicep"
WORKBOOK = INFRA / "workbooks" / "dr.workbook.json"
TELEMETRY = REPO / "shared" / "telemetry.py"
PIPELINE = REPO / "shared" / "copy" / "service.py"

# The app's custom metrics (customMetrics.name) and their dimensions (customDimensions keys).
TELEMETRY_METRICS = {
    "docintel_dr.copy.duration": {"source", "target", "kind", "outcome"},
    "docintel_dr.copy.jobs": {"outcome", "reason_class"},
    "docintel_dr.poll.reads": set(),
    "docintel_dr.items": {"target", "state"},
    "docintel_dr.exposure.seconds": {"target"},
    "docintel_dr.sync.runs": {"outcome", "trigger", "source_listed"},
}

RG = f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers"
INSIGHTS_ID = f"{RG}/Microsoft.Insights/components/appi-tok"
WORKSPACE_ID = f"{RG}/Microsoft.OperationalInsights/workspaces/log-tok"
ALERT_IDENTITY_ID = f"{RG}/Microsoft.ManagedIdentity/userAssignedIdentities/id-alerts-tok"
ALERT_PRINCIPAL = "44444444-4444-4444-4444-444444444444"
ACTION_GROUP_ID = f"{RG}/Microsoft.Insights/actionGroups/ag-docintel-dr-tok"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
EMAIL = "dr-oncall@example.com"
WEBHOOK = "https://hooks.example.com/services/T000/B000/not-a-real-token"


def _stub(path: tuple[Any, ...]) -> Any:
    known = {
        ("appInsights", "id"): INSIGHTS_ID,
        ("workspace", "id"): WORKSPACE_ID,
        ("alertIdentity", "id"): ALERT_IDENTITY_ID,
        ("alertIdentity", "properties", "principalId"): ALERT_PRINCIPAL,
        ("actionGroup", "id"): ACTION_GROUP_ID,
    }
    if path in known:
        return known[path]
    if path[0] == "guid()":
        return "guid-" + "-".join(map(str, path[1:]))
    if path[0] == "subscription_resource_id()":
        return f"roleDefinitions/{path[-1]}"
    return None


class Monitoring:
    """The monitoring module as main.bicep deploys it with `params`."""

    def __init__(self, params: dict[str, Any]) -> None:
        deployment = Deployment(params, EXISTING if not params["createDocumentIntelligence"] else {})
        self.deployment = deployment
        (instance,) = deployment.instances("monitoring")
        self.params = instance["params"]
        self.template = parse(MONITORING)
        self.ev = Evaluator(self.template, self.params, _stub, path=MONITORING)
        self.resources = {
            name: self.ev.eval(r["config"])
            for name, r in self.template["resources"].items()
            if not r.get("existing")
        }
        self.types = {name: r["type"] for name, r in self.template["resources"].items()}

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {n: r for n, r in self.resources.items() if self.types[n] == kind}

    @property
    def rules(self) -> dict[str, dict[str, Any]]:
        return self.of_type("Microsoft.Insights/scheduledQueryRules")

    def rule(self, name: str) -> dict[str, Any]:
        return self.rules[name]

    def condition(self, name: str) -> dict[str, Any]:
        (condition,) = self.rule(name)["properties"]["criteria"]["allOf"]
        return condition


BASE = {**EXISTING_PARAMS, "alertEmail": EMAIL}


@pytest.fixture(scope="module")
def monitoring() -> Monitoring:
    return Monitoring(BASE)


def _hours(duration: str) -> float:
    """An ISO 8601 duration of the forms the rules use (PT5M, PT1H, P2D) in hours."""
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?", duration)
    assert match and duration not in ("P", "PT"), duration
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return days * 24 + hours + minutes / 60


# --- the rules ---------------------------------------------------------------------------------


def test_four_log_search_rules_on_application_insights(monitoring: Monitoring) -> None:
    assert set(monitoring.rules) == {
        "copyFailedAlert",
        "exposureAlert",
        "sourceUnlistedAlert",
        "syncLateAlert",
    }
    for name, rule in monitoring.rules.items():
        props = rule["properties"]
        assert rule["kind"] == "LogAlert", name
        # Workspace-based Application Insights: the component is the scope, its classic tables
        # (customMetrics) are what the queries read.
        assert props["scopes"] == [INSIGHTS_ID], name
        assert props["enabled"] is True and props["autoMitigate"] is True, name
        assert props["severity"] in (0, 1, 2, 3, 4), name
        assert props["actions"]["actionGroups"] == [ACTION_GROUP_ID], name
        # Its own identity, not the permissions of whoever deployed last.
        assert rule["identity"] == {
            "type": "UserAssigned",
            "userAssignedIdentities": {ALERT_IDENTITY_ID: {}},
        }, name
        assert ";" not in rule["name"], "a rule with an identity cannot have ';' in its name"
        frequency, window = _hours(props["evaluationFrequency"]), _hours(props["windowSize"])
        assert 1 / 60 <= frequency <= 24 and frequency <= window, name
        lookback = _hours(props.get("overrideQueryTimeRange", props["windowSize"]))
        assert window <= lookback <= 48, f"{name}: a log search alert looks back at most 2 days"
        condition = monitoring.condition(name)
        assert condition["query"].startswith("customMetrics\n"), name
        assert "AggregatedValue" not in condition["query"], "reserved in log search alerts"
        assert not re.search(r"\b(search|union|take|limit)\b", condition["query"]), name
        assert condition["metricMeasureColumn"] in condition["query"], name
        assert condition["failingPeriods"] == {"numberOfEvaluationPeriods": 1, "minFailingPeriodsToAlert": 1}
        for dimension in condition.get("dimensions", []):
            assert dimension["name"] in condition["query"] and dimension["values"] == ["*"], name
        assert len(json.dumps(rule["properties"])) < 64 * 1024, "a rule's properties are limited to 64 KB"
    assert len({r["name"] for r in monitoring.rules.values()}) == 4


def test_a_failed_copy_alerts_per_reason_class(monitoring: Monitoring) -> None:
    condition = monitoring.condition("copyFailedAlert")
    query = condition["query"]
    assert '| where name == "docintel_dr.copy.jobs"' in query
    assert 'tostring(customDimensions["outcome"]) =~ "failed"' in query
    assert (condition["operator"], condition["threshold"], condition["timeAggregation"]) == (
        "GreaterThan",
        0,
        "Total",
    )
    assert [d["name"] for d in condition["dimensions"]] == ["reason_class"]


@pytest.mark.parametrize("rpo", [24, 6, 168])
def test_exposure_alert_threshold_is_the_rpo_target(rpo: int) -> None:
    monitoring = Monitoring({**BASE, "rpoTargetHours": rpo})
    condition = monitoring.condition("exposureAlert")
    assert '| where name == "docintel_dr.exposure.seconds"' in condition["query"]
    # Seconds in the telemetry, hours in the rule: the threshold is the parameter itself.
    assert "exposure_hours = value / 3600.0" in condition["query"]
    assert "arg_max(timestamp, value) by target" in condition["query"], "the latest report per target"
    assert (condition["operator"], condition["threshold"]) == ("GreaterThan", rpo)
    assert [d["name"] for d in condition["dimensions"]] == ["target"], "one alert per target"
    assert f"= {rpo} h" in monitoring.rule("exposureAlert")["properties"]["description"]
    # The app reads the same value.
    setting = monitoring.deployment.settings["DR_RPO_TARGET_HOURS"]
    assert setting == str(rpo)
    assert app_settings.load_settings(monitoring.deployment.settings).rpo_target_hours == rpo


def test_an_unlisted_source_alerts(monitoring: Monitoring) -> None:
    condition = monitoring.condition("sourceUnlistedAlert")
    assert '| where name == "docintel_dr.sync.runs"' in condition["query"]
    assert 'tostring(customDimensions["source_listed"]) =~ "false"' in condition["query"]
    assert (condition["operator"], condition["threshold"]) == ("GreaterThan", 0)


@pytest.mark.parametrize(("period", "window"), [(24, 26), (1, 3), (12, 14), (46, 48)])
def test_late_sync_window_is_the_schedule_period_plus_two_hours(period: int, window: int) -> None:
    monitoring = Monitoring({**BASE, "syncPeriodHours": period})
    condition = monitoring.condition("syncLateAlert")
    query = condition["query"]
    assert f"| where timestamp > ago({window}h)" in query
    assert '| where name == "docintel_dr.sync.runs"' in query
    # count() over no rows is one row with 0: silence (no run, or no telemetry at all) alerts too.
    assert query.endswith("| summarize runs = count()")
    assert (condition["operator"], condition["threshold"], condition["metricMeasureColumn"]) == (
        "LessThan",
        1,
        "runs",
    )
    props = monitoring.rule("syncLateAlert")["properties"]
    assert _hours(props["overrideQueryTimeRange"]) >= window
    # Exposure is read over the same window (the sync refreshes it at least that often).
    assert f"ago({window}h)" in monitoring.condition("exposureAlert")["query"]


def test_late_sync_period_matches_the_default_schedule() -> None:
    """syncPeriodHours defaults to the period of the default DR_SYNC_SCHEDULE (daily)."""
    for schedule in (app_settings.DEFAULT_SYNC_SCHEDULE, CREATE_PARAMS["syncSchedule"]):
        cron = parse_ncrontab(schedule)
        moment = datetime(2026, 1, 1, tzinfo=UTC)
        gaps = []
        for _ in range(30):
            following = cron.next_after(moment)
            gaps.append(following - moment)
            moment = following
        assert max(gaps[1:]) == timedelta(hours=parse(MAIN)["parameters"]["syncPeriodHours"]["default"])
    assert "0 0 2 * * *" in parse(MAIN)["parameters"]["syncSchedule"]["decorators"][0]["argument"]


def test_bounds_of_the_new_parameters() -> None:
    declared = parse(MAIN)["parameters"]
    assert (
        decorator(declared["rpoTargetHours"], "min_value"),
        decorator(declared["rpoTargetHours"], "max_value"),
    ) == (1, 8760)
    assert (
        decorator(declared["syncPeriodHours"], "min_value"),
        decorator(declared["syncPeriodHours"], "max_value"),
    ) == (1, 46)
    assert (
        declared["rpoTargetHours"]["default"]
        == app_settings.Settings.model_fields["rpo_target_hours"].default
    )
    for bad in (
        {"rpoTargetHours": 0},
        {"rpoTargetHours": 8761},
        {"syncPeriodHours": 0},
        {"syncPeriodHours": 47},
    ):
        with pytest.raises(InvalidParameter, match=next(iter(bad))):
            Monitoring({**BASE, **bad})


# --- who is told -------------------------------------------------------------------------------


def test_action_group_emails_and_omits_an_empty_webhook(monitoring: Monitoring) -> None:
    (group,) = monitoring.of_type("Microsoft.Insights/actionGroups").values()
    props = group["properties"]
    assert group["location"] == "global"
    assert len(props["groupShortName"]) <= 12 and props["enabled"] is True
    assert props["emailReceivers"] == [{"name": "email", "emailAddress": EMAIL, "useCommonAlertSchema": True}]
    assert props["webhookReceivers"] == []


def test_action_group_calls_the_webhook_when_one_is_given() -> None:
    monitoring = Monitoring({**BASE, "alertWebhookUrl": WEBHOOK})
    (group,) = monitoring.of_type("Microsoft.Insights/actionGroups").values()
    assert group["properties"]["webhookReceivers"] == [
        {"name": "webhook", "serviceUri": WEBHOOK, "useCommonAlertSchema": True}
    ]


def test_webhook_url_is_a_secure_parameter_and_never_an_output() -> None:
    for path in (MAIN, MONITORING):
        spec = parse(path)["parameters"]["alertWebhookUrl"]
        assert any(d["type"] == "secure" for d in spec["decorators"]), path.name
        assert spec["default"] == ""
        for name, output in parse(path).get("outputs", {}).items():
            assert "webhook" not in json.dumps(output).lower(), f"{path.name}: output {name}"


@pytest.mark.parametrize("email", ["", "nobody", "two words@example.com"])
def test_an_invalid_email_stops_the_deployment_naming_the_setting(email: str) -> None:
    with pytest.raises(TemplateFailure, match="DR_ALERT_EMAIL"):
        Monitoring({**BASE, "alertEmail": email})


def test_a_webhook_that_is_not_https_stops_the_deployment_without_echoing_it() -> None:
    url = "http://hooks.example.com/services/secret-token"
    with pytest.raises(TemplateFailure, match="DR_ALERT_WEBHOOK_URL") as failure:
        Monitoring({**BASE, "alertWebhookUrl": url})
    assert "secret-token" not in str(failure.value)


def test_alert_parameters_come_from_azd_environment_variables() -> None:
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert given["alertEmail"]["value"] == "${DR_ALERT_EMAIL}"
    assert given["alertWebhookUrl"]["value"] == "${DR_ALERT_WEBHOOK_URL}"
    assert given["rpoTargetHours"]["value"] == "${DR_RPO_TARGET_HOURS=24}"
    assert given["syncPeriodHours"]["value"] == "${DR_SYNC_PERIOD_HOURS=24}"
    # No default: azd asks for the address when DR_ALERT_EMAIL is not set.
    assert parse(MAIN)["parameters"]["alertEmail"].get("default") is None


def test_the_alert_identity_reads_the_component_and_its_workspace_only(monitoring: Monitoring) -> None:
    template = monitoring.template["resources"]
    grants = set()
    for name, config in monitoring.of_type("Microsoft.Authorization/roleAssignments").items():
        scope = template[name]["config"]["scope"]
        props = config["properties"]
        grants.add((template[scope]["type"], props["roleDefinitionId"], props["principalId"]))
        assert props["principalType"] == "ServicePrincipal"
    assert grants == {
        ("Microsoft.Insights/components", f"roleDefinitions/{READER}", ALERT_PRINCIPAL),
        ("Microsoft.OperationalInsights/workspaces", f"roleDefinitions/{READER}", ALERT_PRINCIPAL),
    }
    for name in monitoring.rules:
        assert set(template[name]["config"]["dependsOn"]) == {"readerOnInsights", "readerOnWorkspace"}


def test_monitoring_reads_the_app_module_outputs() -> None:
    (instance,) = Deployment(BASE, EXISTING).instances("monitoring")
    for param, output in (
        ("applicationInsightsName", "applicationInsightsName"),
        ("logAnalyticsWorkspaceName", "logAnalyticsWorkspaceName"),
    ):
        assert isinstance(instance["params"][param], Stubbed)
        assert instance["params"][param].path == ("app", "outputs", output)
    app_outputs = parse(INFRA / "modules" / "app.bicep")["outputs"]
    assert {"applicationInsightsName", "logAnalyticsWorkspaceName"} <= set(app_outputs)
    outputs = parse(MAIN)["outputs"]
    assert {"AZURE_ALERT_ACTION_GROUP_NAME", "AZURE_ALERT_RULE_NAMES", "AZURE_WORKBOOK_ID"} <= set(outputs)


# --- the workbook ------------------------------------------------------------------------------


def _workbook(monitoring: Monitoring) -> dict[str, Any]:
    (workbook,) = monitoring.of_type("Microsoft.Insights/workbooks").values()
    return workbook


def _queries(document: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["content"]["query"] for item in document["items"] if item["type"] == 3}


def test_workbook_file_is_a_workbook() -> None:
    text = WORKBOOK.read_text(encoding="utf-8")
    assert len(text) < 131072, "loadTextContent() reads at most 131,072 characters"
    document = json.loads(text)
    assert document["version"] == "Notebook/1.0"
    names = [item["name"] for item in document["items"]]
    assert len(names) == len(set(names)), "item names must be unique"
    assert {item["type"] for item in document["items"]} <= {1, 3, 9}
    declared = {
        p["name"] for item in document["items"] if item["type"] == 9 for p in item["content"]["parameters"]
    }
    assert declared == {"TimeRange", "RpoHours"}
    for name, query in _queries(document).items():
        item = next(i for i in document["items"] if i["name"] == name)["content"]
        assert item["version"] == "KqlItem/1.0" and item["queryType"] == 0, name
        assert item["resourceType"] == "microsoft.insights/components", name
        assert item["timeContextFromParameter"] == "TimeRange", name
        used = {ref.split(":")[0] for ref in re.findall(r"\{(\w+(?::\w+)?)\}", query)}
        assert used <= declared, f"{name}: unknown parameter {used - declared}"


def test_workbook_is_bound_to_application_insights_with_the_rpo() -> None:
    monitoring = Monitoring({**BASE, "rpoTargetHours": 12})
    workbook = _workbook(monitoring)
    props = workbook["properties"]
    assert workbook["kind"] == "shared"
    # (read unevaluated: the evaluator takes the literal 'workbook' for the resource of that name)
    assert monitoring.template["resources"]["workbook"]["config"]["properties"]["category"] == "workbook"
    assert props["sourceId"] == INSIGHTS_ID
    document = json.loads(props["serializedData"])
    assert document["fallbackResourceIds"] == [INSIGHTS_ID]
    (rpo,) = (
        p for item in document["items"] if item["type"] == 9 for p in item["content"]["parameters"]
        if p["name"] == "RpoHours"
    )  # fmt: skip
    assert rpo["value"] == "12"
    assert not re.search(r"__[A-Z_]+__", props["serializedData"]), "a placeholder is left"


def test_workbook_shows_the_dr_matrix_durations_and_failures() -> None:
    queries = _queries(json.loads(WORKBOOK.read_text(encoding="utf-8")))
    matrix = queries["dr-matrix-targets"]
    assert '"docintel_dr.items"' in matrix and '"docintel_dr.exposure.seconds"' in matrix
    for state in ("present", "missing", "stale", "orphan", "blocked", "diverged"):
        assert f'state == "{state}"' in matrix
    assert "evaluate pivot(target" in queries["dr-matrix-items"], "items x targets"
    assert '"docintel_dr.copy.duration"' in queries["copy-durations"]
    assert '=~ "failed"' in queries["copy-failures"]
    assert "render" not in "".join(queries.values()), "the items choose their visualization"


def test_workbook_parses_the_pipelines_log_lines() -> None:
    """The items x targets matrix and the latest failures read the pipeline's log lines; these are
    their formats in shared/copy/service.py (logger docintel_dr.pipeline)."""
    source = PIPELINE.read_text(encoding="utf-8")
    assert (
        '"job %s created: %s %s %s -> %s", job.job_id, job.kind, job.source_id, job.source_alias, target'
        in (" ".join(source.split()))
    )
    assert (
        'log.info("job %s %s%s", job.job_id, job.status.value, f": {code}: {message}" if code else "")'
        in source
    )
    assert 'logging.getLogger("docintel_dr.pipeline")' in source
    queries = _queries(json.loads(WORKBOOK.read_text(encoding="utf-8")))
    for name in ("dr-matrix-items", "copy-failures-latest"):
        assert (
            '| parse message with "job " job_id " created: " item_kind " " item " " source " -> " target'
            in (queries[name])
        )


# --- names shared with the app's telemetry -----------------------------------------------------


def _telemetry_metric_names() -> set[str]:
    """The metric names shared/telemetry.py defines (string literals docintel_dr.<...> that are not
    logger names); the agreed names while that module does not exist yet."""
    if not TELEMETRY.exists():
        return set(TELEMETRY_METRICS)
    text = TELEMETRY.read_text(encoding="utf-8")
    return set(re.findall(r"""["'](docintel_dr\.[a-z0-9_.]+)["']""", text))


def _metric_queries(monitoring: Monitoring) -> dict[str, str]:
    rules = {f"rule {name}": monitoring.condition(name)["query"] for name in monitoring.rules}
    workbook = json.loads(_workbook(monitoring)["properties"]["serializedData"])
    return {**rules, **{f"workbook {n}": q for n, q in _queries(workbook).items()}}


def test_queries_use_metric_names_and_dimensions_the_app_records(monitoring: Monitoring) -> None:
    defined = _telemetry_metric_names()
    used_anywhere: set[str] = set()
    for where, query in _metric_queries(monitoring).items():
        used = set(re.findall(r'name == "(docintel_dr\.[a-z0-9_.]+)"', query))
        assert "customMetrics" not in query or used, f"{where}: reads customMetrics without a metric name"
        assert used <= set(TELEMETRY_METRICS), f"{where}: unknown metric {used - set(TELEMETRY_METRICS)}"
        assert used <= defined, f"{where}: {used - defined} is not defined in shared/telemetry.py"
        dimensions = set(re.findall(r'customDimensions\["(\w+)"\]', query))
        allowed = set().union(*(TELEMETRY_METRICS[m] for m in used)) if used else set()
        assert dimensions <= allowed, f"{where}: {dimensions - allowed} is not a dimension of {used}"
        used_anywhere |= used
    assert used_anywhere == set(TELEMETRY_METRICS), "every metric of the app shows somewhere"
