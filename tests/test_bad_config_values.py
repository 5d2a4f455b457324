"""Values Azure or the Pulumi CLI would refuse later, refused by ``python -m stacks plan`` first (issue 12).

Each case edits one value of a shipped stack file (as YAML, so the edit carries YAML's own types: ``~``, unquoted
booleans, numbers, dates, ``.nan``) and runs the offline plan on it: exit 2, exactly one line on stderr naming the
file and the key, nothing on stdout, no traceback, nothing registered, and no credential echoed back.

Classes: type coercions, NaN/infinities, unbounded waits and numbers, control/bidirectional characters and
over-long strings, Azure's tag rules, unknown regions / VM sizes / Kubernetes minors, public and overlapping
VNets, plaintext credentials. Legitimate inputs of the same fields still load (``test_legitimate_values_load``).
"""

from __future__ import annotations

import copy
import datetime
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from components._common import MAX_TEXT_CHARS
from components.azure_catalog import AKS_MAX_MINOR
from components.fleet.spec import INT32_MAX
from stacks import plan as plan_module
from stacks.__main__ import main
from stacks.config import load_config
from stacks.plan import ROOT, plan_json, read_stack_file

DELETE = object()
BASES = {stack: yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()) for stack in ("dev", "staging", "prod")}

SLACK = "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdefghijklmnop1234"
TEAMS = "https://contoso.webhook.office.com/webhookb2/0000-1111/IncomingWebhook/abcd/ef01"
HF = "hf_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE"
GH = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
KEYLIKE = "q8Zr2Lx7Vm4Tn9Wp3Ks6"
WAIVER = {"rule": "aks-local-accounts-disabled", "resource": "weu1-aks", "reason": "a documented exception"}

Edit = tuple[str, Any]
# (case id, base stack, edits: (dotted key, value) with the first part a config key, key the message names)
CASES: list[tuple[str, str, list[Edit], str]] = [
    # --- type coercions: what pydantic's lax mode (or the CLI's string form) would silently convert -----------
    ("owner-null", "dev", [("owner", None)], "ai-platform:owner"),
    ("owner-number", "dev", [("owner", 123)], "ai-platform:owner"),
    ("owner-bool", "dev", [("owner", True)], "ai-platform:owner"),
    ("owner-date", "dev", [("owner", datetime.date(2024, 1, 1))], "ai-platform:owner"),
    ("cost-center-float", "dev", [("costCenter", 4.2)], "ai-platform:costCenter"),
    ("location-number", "dev", [("location", 1)], "ai-platform:location"),
    ("name-prefix-bool", "dev", [("namePrefix", False)], "ai-platform:namePrefix"),
    ("kubelogin-null", "dev", [("kubelogin", None)], "ai-platform:kubelogin"),
    ("protect-number", "dev", [("protect", 1)], "ai-platform:protect"),
    ("protect-null", "dev", [("protect", None)], "ai-platform:protect"),
    ("environment-null", "dev", [("environment", None)], "ai-platform:environment"),
    ("k8s-version-float", "dev", [("clusters.weu1.kubernetesVersion", 1.34)], "clusters.weu1.kubernetesVersion"),
    ("k8s-version-null", "dev", [("clusters.weu1.kubernetesVersion", None)], "clusters.weu1.kubernetesVersion"),
    ("system-max-true", "dev", [("clusters.weu1.systemPool.maxCount", True)], "clusters.weu1.systemPool.maxCount"),
    ("system-min-false", "dev", [("clusters.weu1.systemPool.minCount", False)], "clusters.weu1.systemPool.minCount"),
    (
        "slot-max-true",
        "dev",
        [("clusters.weu1.gpuPools.t4.slots.blue.maxCount", True)],
        "clusters.weu1.gpuPools.t4.slots.blue.maxCount",
    ),
    ("slot-spot-number", "dev", [("clusters.weu1.gpuPools.t4.slots.blue.spot", 1)], "t4.slots.blue.spot"),
    ("slot-vmsize-null", "dev", [("clusters.weu1.gpuPools.t4.slots.blue.vmSize", None)], "t4.slots.blue.vmSize"),
    ("slot-active-bool", "dev", [("clusters.weu1.gpuPools.t4.active", True)], "clusters.weu1.gpuPools.t4.active"),
    ("vnet-cidr-number", "dev", [("clusters.weu1.network.vnetCidr", 167772160)], "clusters.weu1.network.vnetCidr"),
    ("dns-ip-number", "dev", [("clusters.weu1.network.dnsServiceIp", 2886729738)], "network.dnsServiceIp"),
    ("private-number", "dev", [("clusters.weu1.apiServer.private", 0)], "clusters.weu1.apiServer.private"),
    ("ip-range-number", "dev", [("clusters.weu1.apiServer.authorizedIpRanges", [123])], "authorizedIpRanges.0"),
    ("tier-null", "dev", [("clusters.weu1.tier", None)], "clusters.weu1.tier"),
    ("team-quota-bool", "dev", [("teams.apps.profiles.t4", True)], "ai-platform:teams.apps.profiles.t4"),
    ("team-mtls-number", "dev", [("teams.research.mtls", 1)], "ai-platform:teams.research.mtls"),
    ("model-replicas-true", "dev", [("models.assistant.replicas", True)], "models.assistant.replicas"),
    ("model-concurrency-fraction", "dev", [("models.assistant.concurrency", 8.5)], "models.assistant.concurrency"),
    ("model-team-number", "dev", [("models.assistant.team", 7)], "ai-platform:models.assistant.team"),
    ("model-source-date", "dev", [("models.assistant.source", datetime.date(2025, 1, 2))], "models.assistant.source"),
    ("budget-bool", "dev", [("policy.budgetMonthlyUsd", True)], "ai-platform:policy.budgetMonthlyUsd"),
    ("waiver-rule-bool", "dev", [("policy.waivers", [{**WAIVER, "rule": True}])], "policy.waivers.0.rule"),
    ("waiver-expires-word", "dev", [("policy.waivers", [{**WAIVER, "expires": "soon"}])], "policy.waivers.0.expires"),
    ("monitoring-light-number", "dev", [("monitoring.light", 1)], "ai-platform:monitoring.light"),
    ("tag-value-number", "dev", [("tags", {"team": 5})], "ai-platform:tags.team"),
    ("tag-value-null", "dev", [("tags", {"team": None})], "ai-platform:tags.team"),
    ("profile-gpu-null", "dev", [("dra.profiles.t4.gpuModel", None)], "ai-platform:dra.profiles.t4.gpuModel"),
    ("fleet-group-number", "staging", [("fleet.members.weu1.group", 1)], "ai-platform:fleet.members.weu1.group"),
    # --- NaN and infinities: never a number, never in the plan JSON --------------------------------------------
    ("budget-nan", "dev", [("policy.budgetMonthlyUsd", math.nan)], "ai-platform:policy.budgetMonthlyUsd"),
    ("budget-inf", "dev", [("policy.budgetMonthlyUsd", math.inf)], "ai-platform:policy.budgetMonthlyUsd"),
    ("budget-minus-inf", "dev", [("policy.budgetMonthlyUsd", -math.inf)], "ai-platform:policy.budgetMonthlyUsd"),
    (
        "price-nan",
        "dev",
        [("pricing.vmSizes", {"Standard_NC8as_T4_v3": {"westeurope": math.nan}})],
        "pricing.vmSizes.Standard_NC8as_T4_v3.westeurope",
    ),
    ("tier-price-inf", "dev", [("pricing.clusterTiers", {"Free": math.inf})], "ai-platform:pricing.clusterTiers.Free"),
    (
        "gpu-utilisation-nan",
        "dev",
        [("models.assistant.gpuMemoryUtilization", math.nan)],
        "models.assistant.gpuMemoryUtilization",
    ),
    ("alert-ratio-nan", "dev", [("monitoring.alerts", {"gpuMemoryUsedRatio": math.nan})], "gpuMemoryUsedRatio"),
    ("rbac-wait-inf", "dev", [("clusters.weu1.security", {"rbacPropagationSeconds": math.inf})], "rbacPropagation"),
    ("fleet-wait-nan", "staging", [("fleet.updateStrategy.stages.all.afterStageWaitInSeconds", math.nan)], "all"),
    # --- unbounded waits and numbers: bounded by what the API accepts --------------------------------------------
    (
        "fleet-wait-1e12",
        "staging",
        [("fleet.updateStrategy.stages.all.afterStageWaitInSeconds", 10**12)],
        "fleet.updateStrategy.stages.all.afterStageWaitInSeconds",
    ),
    (
        "fleet-wait-int32-plus-one",
        "staging",
        [("fleet.updateStrategy.stages.all.afterStageWaitInSeconds", INT32_MAX + 1)],
        "stages.all.afterStageWaitInSeconds",
    ),
    ("fleet-wait-negative", "staging", [("fleet.updateStrategy.stages.all.afterStageWaitInSeconds", -1)], "all."),
    ("rbac-wait-1e12", "dev", [("clusters.weu1.security", {"rbacPropagationSeconds": 10**12})], "rbacPropagation"),
    ("drain-timeout-huge", "dev", [("clusters.weu1.gpuPools.t4.upgrade", {"drainTimeoutInMinutes": 10**9})], "drain"),
    ("node-soak-huge", "dev", [("clusters.weu1.gpuPools.t4.upgrade", {"nodeSoakDurationInMinutes": 10**6})], "Soak"),
    (
        "maintenance-hours-huge",
        "staging",
        [("clusters.weu1.maintenance.autoUpgrade.durationHours", 10**6)],
        "clusters.weu1.maintenance.autoUpgrade.durationHours",
    ),
    (
        "scrape-interval-huge",
        "dev",
        [("monitoring.dcgmExporter", {"scrapeInterval": "99999999s"})],
        "ai-platform:monitoring.dcgmExporter.scrapeInterval",
    ),
    ("context-length-huge", "dev", [("models.assistant.contextLength", 10**12)], "models.assistant.contextLength"),
    (
        "price-huge",
        "dev",
        [("pricing.vmSizes", {"Standard_NC8as_T4_v3": {"westeurope": 1e308}})],
        "pricing.vmSizes.Standard_NC8as_T4_v3.westeurope",
    ),
    ("budget-huge", "dev", [("policy.budgetMonthlyUsd", 1e300)], "ai-platform:policy.budgetMonthlyUsd"),
    ("idle-minutes-huge", "dev", [("monitoring.alerts", {"idleGpuMinutes": 10**9})], "alerts.idleGpuMinutes"),
    # --- control and bidirectional characters, over-long strings and identifiers --------------------------------
    ("owner-nul", "dev", [("owner", "team\x00x")], "ai-platform:owner"),
    ("owner-escape", "dev", [("owner", "team\x1b[31m")], "ai-platform:owner"),
    ("owner-rlo", "dev", [("owner", "team\u202egnp.exe")], "ai-platform:owner"),
    ("owner-zero-width", "dev", [("owner", "pla\u200btform")], "ai-platform:owner"),
    ("tag-key-rlo", "dev", [("tags", {"te\u202eam": "x"})], "ai-platform:tags.te\\u202eam"),
    ("tag-key-newline", "dev", [("tags", {"a\nb": "x"})], "ai-platform:tags.a\\nb"),
    ("tag-value-isolate", "dev", [("tags", {"team": "a\u2066b"})], "ai-platform:tags.team"),
    ("model-source-bell", "dev", [("models.assistant.source", "Qwen/\x07x")], "ai-platform:models.assistant.source"),
    ("owner-10k", "dev", [("owner", "x" * 10_000)], "ai-platform:owner"),
    ("cost-center-2k", "dev", [("costCenter", "c" * 2_000)], "ai-platform:costCenter"),
    ("tag-key-10k", "dev", [("tags", {"k" * 10_000: "x"})], "ai-platform:tags.kkkk"),
    ("team-id-10k", "dev", [("teams", {"t" * 10_000: {}})], "ai-platform:teams.tttt"),
    ("model-id-10k", "dev", [("models", {"m" * 10_000: {"team": "apps"}})], "ai-platform:models.mmmm"),
    ("receiver-id-10k", "dev", [("monitoring.alerts", {"emails": {"r" * 10_000: "a@b.io"}})], "alerts.emails.rrr"),
    ("source-long", "dev", [("models.assistant.source", "Q/" + "w" * MAX_TEXT_CHARS)], "models.assistant.source"),
    ("namespace-escape", "dev", [("ai-platfrom:own\x1ber", "x")], "ai-platfrom:own\\x1ber"),
    ("top-level-key-rlo", "dev", [("ai-platform:tag\u202es", {"a": "b"})], "ai-platform:tag\\u202es"),
    # --- Azure's tag rules ---------------------------------------------------------------------------------------
    ("tag-name-slash", "dev", [("tags", {"a/b": "x"})], "ai-platform:tags.a/b"),
    ("tag-name-lt", "dev", [("tags", {"a<b": "x"})], "ai-platform:tags.a<b"),
    ("tag-name-percent", "dev", [("tags", {"50%": "x"})], "ai-platform:tags.50%"),
    ("tag-name-amp", "dev", [("tags", {"r&d": "x"})], "ai-platform:tags.r&d"),
    ("tag-name-backslash", "dev", [("tags", {"a\\b": "x"})], "ai-platform:tags.a\\b"),
    ("tag-name-question", "dev", [("tags", {"why?": "x"})], "ai-platform:tags.why?"),
    ("tag-name-empty", "dev", [("tags", {"": "x"})], "ai-platform:tags."),
    ("tag-name-azure-prefix", "dev", [("tags", {"azureTeam": "x"})], "ai-platform:tags.azureTeam"),
    ("tag-name-microsoft-prefix", "dev", [("tags", {"Microsoft.Owner": "x"})], "ai-platform:tags.Microsoft.Owner"),
    ("tag-name-managed-by", "dev", [("tags", {"managed-by": "terraform"})], "ai-platform:tags.managed-by"),
    ("tag-name-blueprint", "dev", [("tags", {"Blueprint": "x"})], "ai-platform:tags.Blueprint"),
    ("tag-name-colour", "dev", [("tags", {"ai-platform-color": "red"})], "ai-platform:tags.ai-platform-color"),
    ("tag-name-owner", "dev", [("tags", {"owner": "x"})], "ai-platform:tags.owner"),
    ("tag-value-300", "dev", [("tags", {"team": "v" * 300})], "ai-platform:tags.team"),
    ("tags-too-many", "dev", [("tags", {f"t{i}": "v" for i in range(44)})], "ai-platform:tags"),
    # --- regions, system-pool VM sizes, Kubernetes minors --------------------------------------------------------
    ("location-typo", "dev", [("location", "westeurop")], "ai-platform:location"),
    ("location-unknown", "dev", [("location", "mars")], "ai-platform:location"),
    ("location-display-name", "dev", [("location", "West Europe")], "ai-platform:location"),
    ("location-sovereign", "dev", [("location", "chinaeast2")], "ai-platform:location"),
    ("cluster-location-typo", "dev", [("clusters.weu1.location", "northeurop")], "clusters.weu1.location"),
    ("cluster-location-geo", "dev", [("clusters.weu1.location", "europe")], "clusters.weu1.location"),
    ("system-size-b1s", "dev", [("clusters.weu1.systemPool.vmSize", "Standard_B1s")], "systemPool.vmSize"),
    ("system-size-b2ts", "dev", [("clusters.weu1.systemPool.vmSize", "Standard_B2ts_v2")], "systemPool.vmSize"),
    ("system-size-a1", "dev", [("clusters.weu1.systemPool.vmSize", "Standard_A1_v2")], "systemPool.vmSize"),
    ("system-size-made-up", "dev", [("clusters.weu1.systemPool.vmSize", "Standard_D3ds_v5")], "systemPool.vmSize"),
    ("system-size-case", "dev", [("clusters.weu1.systemPool.vmSize", "standard_d4ds_v5")], "systemPool.vmSize"),
    ("system-size-gpu", "dev", [("clusters.weu1.systemPool.vmSize", "Standard_NC8as_T4_v3")], "systemPool.vmSize"),
    ("k8s-minor-next", "dev", [("clusters.weu1.kubernetesVersion", f"1.{AKS_MAX_MINOR + 1}")], "kubernetesVersion"),
    ("k8s-minor-99", "dev", [("clusters.weu1.kubernetesVersion", "1.99")], "clusters.weu1.kubernetesVersion"),
    ("k8s-major-2", "dev", [("clusters.weu1.kubernetesVersion", "2.0")], "clusters.weu1.kubernetesVersion"),
    # --- VNets: private ranges, and no overlap between clusters the fleet connects -------------------------------
    (
        "vnet-public",
        "dev",
        [("clusters.weu1.network.vnetCidr", "8.8.0.0/16"), ("clusters.weu1.network.nodeSubnetCidr", "8.8.0.0/20")],
        "clusters.weu1.network.vnetCidr",
    ),
    (
        "vnet-public-11",
        "dev",
        [("clusters.weu1.network.vnetCidr", "11.0.0.0/16"), ("clusters.weu1.network.nodeSubnetCidr", "11.0.0.0/20")],
        "clusters.weu1.network.vnetCidr",
    ),
    (
        "vnet-next-to-private",
        "dev",
        [
            ("clusters.weu1.network.vnetCidr", "172.32.0.0/16"),
            ("clusters.weu1.network.nodeSubnetCidr", "172.32.0.0/20"),
        ],
        "clusters.weu1.network.vnetCidr",
    ),
    ("pod-cidr-public", "dev", [("clusters.weu1.network.podCidr", "1.0.0.0/16")], "clusters.weu1.network.podCidr"),
    (
        "service-cidr-public",
        "dev",
        [("clusters.weu1.network.serviceCidr", "20.0.0.0/16"), ("clusters.weu1.network.dnsServiceIp", "20.0.0.10")],
        "clusters.weu1.network.serviceCidr",
    ),
    (
        "fleet-vnets-equal",
        "prod",
        [("clusters.neu1.network.vnetCidr", "10.40.0.0/16"), ("clusters.neu1.network.nodeSubnetCidr", "10.40.0.0/20")],
        "ai-platform:clusters.neu1.network.vnetCidr",
    ),
    (
        "fleet-vnets-nested",
        "prod",
        [
            ("clusters.neu1.network.vnetCidr", "10.40.128.0/17"),
            ("clusters.neu1.network.nodeSubnetCidr", "10.40.128.0/20"),
        ],
        "ai-platform:clusters.neu1.network.vnetCidr",
    ),
    # --- plaintext credentials -----------------------------------------------------------------------------------
    ("secrets-namespace-plain", "dev", [("ai-platform-secrets:huggingFaceToken", HF)], "ai-platform-secrets:hugging"),
    ("secrets-namespace-url", "dev", [("ai-platform-secrets:alertWebhook", SLACK)], "ai-platform-secrets:alertWebhook"),
    ("azure-client-secret", "dev", [("azure-native:clientSecret", "Zx8~q" + KEYLIKE)], "azure-native:clientSecret"),
    ("azure-oidc-token", "dev", [("azure-native:oidcToken", "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl")], "oidcToken"),
    (
        "kubeconfig-token",
        "dev",
        [("kubernetes:kubeconfig", "users:\n- user:\n    token: abc")],
        "kubernetes:kubeconfig",
    ),
    ("provider-hf-token", "dev", [("kubernetes:context", HF)], "kubernetes:context"),
    ("tag-slack-webhook", "dev", [("tags", {"alerts": SLACK})], "ai-platform:tags.alerts"),
    ("tag-teams-webhook", "dev", [("tags", {"alerts": TEAMS})], "ai-platform:tags.alerts"),
    ("tag-url-password", "dev", [("tags", {"repo": "https://bot:S3cretPassw0rd@git.example.com/x"})], "tags.repo"),
    ("tag-api-key", "dev", [("tags", {"apiKey": KEYLIKE})], "ai-platform:tags.apiKey"),
    ("owner-github-token", "dev", [("owner", GH)], "ai-platform:owner"),
    ("hf-token-pasted-as-reference", "dev", [("models.assistant.hfToken", HF)], "ai-platform:models.assistant.hfToken"),
    ("email-receiver-webhook", "dev", [("monitoring.alerts", {"emails": {"oncall": TEAMS}})], "alerts.emails.oncall"),
    (
        "model-source-signed-url",
        "dev",
        [("models.assistant.source", "https://models.example.com/q.tar?sig=abcdef0123456789XYZ")],
        "ai-platform:models.assistant.source",
    ),
    (
        "pricing-source-connection-string",
        "dev",
        [("pricing.source", "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abc123==")],
        "ai-platform:pricing.source",
    ),
]

SECRET_VALUES = (SLACK, TEAMS, HF, GH, KEYLIKE, "S3cretPassw0rd", "AccountKey=abc123", "sig=abcdef", "token: abc")


def _edited(stack: str, edits: list[Edit]) -> str:
    document = copy.deepcopy(BASES[stack])
    config = document["config"]
    for dotted, value in edits:
        head, *rest = dotted.split(".") if not dotted.startswith(("azure-native:", "kubernetes:")) else [dotted]
        key = head if ":" in head else f"ai-platform:{head}"
        node = config
        parts = [key, *rest]
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if value is DELETE:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=False, width=1 << 20)


@pytest.fixture
def nothing_registers(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_run(*_: Any) -> None:
        raise AssertionError("the program ran despite a configuration error")

    monkeypatch.setattr(plan_module, "build_platform", must_not_run)


@pytest.mark.usefixtures("nothing_registers")
@pytest.mark.parametrize(("stack", "edits", "key"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_value_is_one_line_exit_2(
    stack: str, edits: list[Edit], key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(_edited(stack, edits))
    code = main(["plan", "bad", "--config-file", str(path), "--json", str(tmp_path / "plan.json")])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("Pulumi.bad.yaml: "), lines[0]
    assert key in lines[0], lines[0]
    assert "Traceback" not in err
    assert "Fix:" in lines[0], lines[0]
    for secret in SECRET_VALUES:
        assert secret not in err, "a credential was echoed back"
    assert not (tmp_path / "plan.json").exists()


def test_case_ids_are_unique_and_plenty() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 100


# Values of the same fields that must keep working: CIDR strings into ipaddress types, ints into float prices,
# YAML dates where a date is expected, quoted minors, boundary sizes, secret *references* (not secrets).
LEGITIMATE: list[tuple[str, str, list[Edit]]] = [
    (
        "shared-address-space-vnet",
        "dev",
        [
            ("clusters.weu1.network.vnetCidr", "100.64.0.0/16"),
            ("clusters.weu1.network.nodeSubnetCidr", "100.64.0.0/20"),
        ],
    ),
    ("int-price-into-float", "dev", [("pricing.vmSizes", {"Standard_NC8as_T4_v3": {"westeurope": 1}})]),
    ("int-budget", "dev", [("policy.budgetMonthlyUsd", 6000)]),
    ("waiver-yaml-date", "dev", [("policy.waivers", [{**WAIVER, "expires": datetime.date(2099, 1, 1)}])]),
    ("newest-minor", "dev", [("clusters.weu1.kubernetesVersion", f"1.{AKS_MAX_MINOR}")]),
    ("minimum-system-size", "dev", [("clusters.weu1.systemPool.vmSize", "Standard_D2ls_v5")]),
    ("amd-system-size", "dev", [("clusters.weu1.systemPool.vmSize", "Standard_D4as_v5")]),
    ("longest-wait", "staging", [("fleet.updateStrategy.stages.all.afterStageWaitInSeconds", INT32_MAX)]),
    ("tag-with-spaces-and-colon", "dev", [("tags", {"project": "AI platform: phase 2", "team name": "ml-ops"})]),
    ("secret-reference", "dev", [("models.assistant.hfToken", "assistantHuggingFaceToken2")]),
    (
        "webhook-reference",
        "dev",
        [("monitoring.alerts", {"webhooks": {"oncall": {"urlSecret": "platformOncallWebhookUrl1"}}})],
    ),
    ("plain-https-source", "dev", [("pricing.source", "https://prices.azure.com/api/retail/prices?currencyCode=USD")]),
    ("secure-secret", "dev", [("ai-platform-secrets:huggingFaceToken", {"secure": "v1:abcdef"})]),
    ("mixed-case-region-ok", "dev", [("clusters.weu1.location", "swedencentral")]),
    ("scrape-300s", "dev", [("monitoring.dcgmExporter", {"scrapeInterval": "300s"})]),
]


@pytest.mark.parametrize(("stack", "edits"), [c[1:] for c in LEGITIMATE], ids=[c[0] for c in LEGITIMATE])
def test_legitimate_values_load(stack: str, edits: list[Edit], tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.ok.yaml"
    path.write_text(_edited(stack, edits))
    stack_file = read_stack_file("ok", path)
    cfg = load_config(stack_file.config_map, stack_file.source)
    assert cfg.environment == stack


def test_plan_json_is_strict_json() -> None:
    """The writer refuses NaN/Infinity with the path that holds it, instead of writing non-JSON."""
    with pytest.raises(plan_module.ConfigError) as caught:
        plan_json({"cost": {"items": [{"monthlyUsd": 1.0}, {"monthlyUsd": math.inf}]}})
    assert caught.value.lines == ["plan: cost.items.1.monthlyUsd: is not a finite number, so the plan is not JSON"]
    assert json.loads(plan_json({"a": [1.5, 2]})) == {"a": [1.5, 2]}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_plan_documents_are_strict_json(stack: str, plan_documents: dict[str, Any]) -> None:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the plan of {stack}")

    json.loads(plan_json(plan_documents[stack]), parse_constant=refuse)


def test_pulumi_up_refuses_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `pulumi up` the program gets the CLI's form (objects as JSON, scalars as strings): the models' own
    input checks still refuse a coerced boolean, a NaN and a plaintext webhook URL, as one clean RunError."""
    import pulumi  # noqa: PLC0415

    from stacks import program  # noqa: PLC0415

    config_map = dict(read_stack_file("dev").config_map)
    clusters = json.loads(config_map["ai-platform:clusters"])
    clusters["weu1"]["systemPool"]["maxCount"] = True
    config_map["ai-platform:clusters"] = json.dumps(clusters)
    config_map["ai-platform:policy"] = '{"budgetMonthlyUsd": NaN}'
    config_map["ai-platform:tags"] = json.dumps({"alerts": SLACK})
    monkeypatch.setattr(program, "current_config_map", lambda: config_map)
    monkeypatch.setattr(pulumi, "get_stack", lambda: "dev")
    monkeypatch.setattr(program, "build_platform", lambda *_: pytest.fail("the composition ran"))
    with pytest.raises(pulumi.RunError) as caught:
        program.main()
    message = str(caught.value)
    assert "ai-platform:clusters.weu1.systemPool.maxCount: must be a number, not a boolean" in message
    assert "ai-platform:policy.budgetMonthlyUsd: must be a finite number" in message
    assert "ai-platform:tags.alerts: is a URL that carries a credential" in message
    assert SLACK not in message
    assert "Traceback" not in message
