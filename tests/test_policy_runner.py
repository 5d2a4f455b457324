"""The pack the way ``pulumi preview --policy-pack policies`` runs it: Pulumi's own runner, over gRPC.

The CLI starts the pack as ``python -m pulumi.policy <engine address> <pack folder>`` (pulumi's
``pulumi/policy/__main__.py`` runs the folder's ``__main__.py``; ``PolicyPack`` serves the Analyzer service
on a free port and prints that port on stdout). It then calls GetAnalyzerInfo, Configure (the
``--policy-pack-config`` JSON, which is what ``python -m stacks policy-config STACK`` prints), Analyze once
per resource and AnalyzeStack once, with every resource's properties as a ``google.protobuf.Struct``: every
number arrives as a float, every list as a read-only proxy, every unknown as a sentinel string
(``pulumi_policy/policy.py`` ``_PolicyAnalyzerServicer.Analyze``: ``deserialize_properties(
json_format.MessageToDict(...))`` then ``unknown_checking_proxy``). No Pulumi CLI is needed: this test plays
the engine's side with the stubs shipped in ``pulumi.runtime.proto``.

Every shipped stack and a set of violating edits of them must get exactly the verdicts of ``stacks check``
(policy, enforcement, URN and message).
"""

from __future__ import annotations

import json
import re
import selectors
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies.engine import AGENT_POOL, CLUSTER, cannot_verify, plain_props
from policies.offline import evaluate_plan
from policies.rules import RULES_BY_ID
from policies.rules.bluegreen import LABEL_ROLE, STANDBY_TAINT
from policies.rules.gpu import LABEL_ALLOCATION
from tests.conftest import SHIPPED_STACKS

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "policies"
LEVELS = {analyzer_pb2.ADVISORY: "advisory", analyzer_pb2.MANDATORY: "mandatory", analyzer_pb2.DISABLED: "disabled"}
LEVEL_OF = {name: value for value, name in LEVELS.items()}
Verdict = tuple[str, str, str, str]
"""(policy, enforcement, urn, message) of one violation."""


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack served by ``python -m pulumi.policy`` (started once for this module)."""
    stderr = (tmp_path_factory.mktemp("runner") / "stderr").open("w+")
    # The engine passes its own address first; PolicyPack never dials it, so any address serves.
    process = subprocess.Popen(
        [sys.executable, "-m", "pulumi.policy", "127.0.0.1:1", str(PACK)],
        cwd=PACK,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    try:
        assert process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        line = process.stdout.readline() if selector.select(timeout=120) else b""
        if not line.strip().isdigit():
            process.kill()
            stderr.seek(0)
            pytest.fail(f"the runner printed {line!r} instead of its port:\n{stderr.read()}")
        channel = grpc.insecure_channel(f"127.0.0.1:{int(line)}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
        stderr.close()


@pytest.fixture(scope="module")
def policy_configs() -> dict[str, dict[str, Any]]:
    """What CI passes as ``--policy-pack-config``: ``python -m stacks policy-config STACK``."""
    configs = {}
    for stack in SHIPPED_STACKS:
        result = subprocess.run(
            [sys.executable, "-m", "stacks", "policy-config", stack],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        configs[stack] = json.loads(result.stdout)
    return configs


# ----------------------------------------------------------------------------------------------------------
# The engine's side of the protocol


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    """Properties as the engine marshals them for an analyzer: unknowns (``null`` in the plan) as sentinels."""

    def encode(value: Any) -> Any:
        if value is None:
            return UNKNOWN_STRING_VALUE
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [encode(v) for v in value]
        return value

    struct = struct_pb2.Struct()
    struct.update(encode(values))
    return struct


def _seconds(duration: str | None) -> float:
    """A Pulumi custom timeout ("60m", "1h30m") in seconds, as the engine sends it."""
    units = {"h": 3600, "m": 60, "s": 1}
    return float(sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", duration or "")))


def _options(raw: dict[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
    timeouts = raw.get("customTimeouts") or {}
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(raw.get("protect")),
        ignoreChanges=raw.get("ignoreChanges") or [],
        parent=raw.get("parent") or "",
        customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(
            **{k: _seconds(timeouts.get(k)) for k in ("create", "update", "delete")}
        ),
    )


def _provider(raw: dict[str, Any], by_urn: dict[str, dict[str, Any]]) -> analyzer_pb2.AnalyzerProviderResource | None:
    provider = by_urn.get(raw.get("provider") or "")
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider["type"], properties=_struct(provider["inputs"]), urn=provider["urn"], name=provider["name"]
    )


def configure(stub: analyzer_pb2_grpc.AnalyzerStub, config: dict[str, Any]) -> analyzer_pb2.AnalyzerInfo:
    """GetAnalyzerInfo, then Configure every policy from the ``--policy-pack-config`` JSON as the CLI does:
    the policy's own entry, else ``all``, else the level the pack declares."""
    info = stub.GetAnalyzerInfo(empty_pb2.Empty())
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for policy in info.policies:
        entry = config.get(policy.name)
        level = entry if isinstance(entry, str) else (entry or {}).get("enforcementLevel")
        level = level or (config["all"] if isinstance(config.get("all"), str) else LEVELS[policy.enforcementLevel])
        properties = {k: v for k, v in entry.items() if k != "enforcementLevel"} if isinstance(entry, dict) else {}
        request.policyConfig[policy.name].CopyFrom(
            analyzer_pb2.PolicyConfig(enforcementLevel=LEVEL_OF[level], properties=_struct(properties))
        )
    stub.Configure(request)
    return info


def served_verdicts(
    stub: analyzer_pb2_grpc.AnalyzerStub, document: dict[str, Any], config: dict[str, Any]
) -> list[Verdict]:
    """What the engine would show for ``document``: Analyze per resource, then AnalyzeStack."""
    info = configure(stub, config)
    descriptions = {p.name: p.description for p in info.policies}
    resources = document["resources"]
    by_urn = {r["urn"]: r for r in resources}
    verdicts: list[Verdict] = []

    def collect(response: analyzer_pb2.AnalyzeResponse, urn: str) -> None:
        for d in response.diagnostics:
            # report_violation prefixes the policy description (pulumi_policy/policy.py _create_report_violation).
            message = d.message.removeprefix(descriptions[d.policyName] + "\n")
            verdicts.append((d.policyName, LEVELS[d.enforcementLevel], d.urn or urn, message))

    def fields(raw: dict[str, Any]) -> dict[str, Any]:
        """What the engine sends of one resource in both Analyze and AnalyzeStack."""
        return {
            "type": raw["type"],
            "properties": _struct(raw["inputs"]),
            "urn": raw["urn"],
            "name": raw["name"],
            "options": _options(raw),
            "provider": _provider(raw, by_urn),
        }

    for raw in resources:
        collect(stub.Analyze(analyzer_pb2.AnalyzeRequest(**fields(raw))), raw["urn"])
    stack_request = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                **fields(raw),
                parent=raw.get("parent") or "",
                dependencies=raw.get("dependencies") or [],
            )
            for raw in resources
        ]
    )
    collect(stub.AnalyzeStack(stack_request), "")
    return sorted(verdicts)


def check_verdicts(document: dict[str, Any], pack_version: str) -> list[Verdict]:
    """``stacks check``'s verdicts in the shape the engine reports them: a rule's "cannot verify" findings on
    one resource (on the stack, for stack rules) are one advisory "can't run policy" diagnostic."""
    verdicts: list[Verdict] = []
    unknowns: dict[tuple[str, str], list[str]] = {}
    for v in evaluate_plan(document):
        if v.message.startswith(cannot_verify("")):
            where = v.urn or "" if RULES_BY_ID[v.policy].scope == "resource" else ""
            unknowns.setdefault((v.policy, where), []).append(v.message)
        else:
            verdicts.append((v.policy, v.enforcement, v.urn or "", v.message))
    for (policy, urn), messages in unknowns.items():
        message = f"can't run policy '{policy}' from policy pack 'ai-platform@v{pack_version}' during preview: "
        verdicts.append((policy, "advisory", urn, message + "; ".join(messages)))
    return sorted(verdicts)


def assert_same_verdicts(
    stub: analyzer_pb2_grpc.AnalyzerStub, document: dict[str, Any], config: dict[str, Any]
) -> None:
    served = served_verdicts(stub, document, config)
    expected = check_verdicts(document, stub.GetAnalyzerInfo(empty_pb2.Empty()).version)
    extra = [v for v in served if v not in expected]
    missing = [v for v in expected if v not in served]
    assert served == expected, (
        f"served by pulumi.policy but not by stacks check ({len(extra)}):\n"
        + "\n".join(map(str, extra))
        + f"\nfound by stacks check but not served ({len(missing)}):\n"
        + "\n".join(map(str, missing))
    )


# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_shipped_stack_gets_the_verdicts_of_stacks_check(
    stack: str,
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
    plan_documents: dict[str, dict[str, Any]],
    policy_configs: dict[str, dict[str, Any]],
) -> None:
    document = plan_documents[stack]
    served = served_verdicts(analyzer, document, policy_configs[stack])
    blocking = [v for v in served if v[1] == "mandatory"]
    assert blocking == [], f"{stack}: a CLI preview would be blocked by {len(blocking)}:\n" + "\n".join(
        map(str, blocking)
    )
    assert_same_verdicts(analyzer, document, policy_configs[stack])


def test_the_runner_serves_every_rule_at_its_configured_level(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, policy_configs: dict[str, dict[str, Any]]
) -> None:
    info = configure(analyzer, policy_configs["prod"])
    assert info.name == "ai-platform"
    assert {p.name for p in info.policies} == set(RULES_BY_ID)
    kinds = {p.name: p.policy_type for p in info.policies}
    assert kinds["aks-single-inline-pool"] == analyzer_pb2.POLICY_TYPE_RESOURCE
    assert kinds["gpu-single-advertiser"] == analyzer_pb2.POLICY_TYPE_STACK


def test_plain_props_undoes_what_the_runner_does_to_props() -> None:
    # What pulumi_policy builds from a Struct: floats, proxies over lists and dicts, unknown sentinels.
    served = unknown_checking_proxy(
        {
            "count": 6.0,
            "ratio": 0.5,
            "on": True,
            "taints": ["a=b:NoSchedule"],
            "nested": [{"max": 3.0}],
            "id": UNKNOWN_STRING_VALUE,
        }
    )
    assert plain_props(served) == {
        "count": 6,
        "ratio": 0.5,
        "on": True,
        "taints": ["a=b:NoSchedule"],
        "nested": [{"max": 3}],
        "id": None,
    }
    plain = plain_props(served)
    assert type(plain["count"]) is int
    assert type(plain["taints"]) is list
    assert type(plain["nested"][0]) is dict


# Edits of shipped plans (violations, an unknown, and a list-valued pass): checked offline, served alike.


def _resources(doc: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in doc["resources"] if r["type"] == type_]


def _gpu_pools(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in _resources(doc, AGENT_POOL) if LABEL_ROLE in (r["inputs"].get("nodeLabels") or {})]


def _public_system_pool(doc: dict[str, Any]) -> None:
    for cluster in _resources(doc, CLUSTER):
        cluster["inputs"]["agentPoolProfiles"][0]["enableNodePublicIP"] = True


def _second_inline_pool(doc: dict[str, Any]) -> None:
    cluster = _resources(doc, CLUSTER)[0]
    profiles = cluster["inputs"]["agentPoolProfiles"]
    profiles.append({**profiles[0], "name": "user", "mode": "User"})


def _untainted_standby(doc: dict[str, Any]) -> None:
    for pool in _gpu_pools(doc):
        if pool["inputs"]["nodeLabels"][LABEL_ROLE] == "standby":
            pool["inputs"]["nodeTaints"] = []


def _standby_taint_on_active(doc: dict[str, Any]) -> None:
    for pool in _gpu_pools(doc):
        if pool["inputs"]["nodeLabels"][LABEL_ROLE] == "active":
            pool["inputs"]["nodeTaints"] = [*pool["inputs"].get("nodeTaints", []), STANDBY_TAINT.aks()]


def _active_pool_without_nodes(doc: dict[str, Any]) -> None:
    for pool in _gpu_pools(doc):
        if pool["inputs"]["nodeLabels"][LABEL_ROLE] == "active":
            pool["inputs"]["minCount"] = 0
            pool["inputs"]["maxCount"] = 0


def _egress_only_team_policy(doc: dict[str, Any]) -> None:
    for policy in _resources(doc, "kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        policy["inputs"]["spec"]["policyTypes"] = ["Egress"]


def _dra_driver_by_affinity(values: list[str]) -> Callable[[dict[str, Any]], None]:
    """The DRA driver placed by a node-affinity ``In`` list instead of its nodeSelector, and one GPU pool
    advertised by the device plugin instead."""

    def edit(doc: dict[str, Any]) -> None:
        _gpu_pools(doc)[0]["inputs"]["nodeLabels"][LABEL_ALLOCATION] = "device-plugin"
        for release in _resources(doc, "kubernetes:helm.sh/v3:Release"):
            plugin = release["inputs"].get("values", {}).get("kubeletPlugin", {})
            if plugin.get("nodeSelector", {}).pop(LABEL_ALLOCATION, None) is not None:
                term = {"matchExpressions": [{"key": LABEL_ALLOCATION, "operator": "In", "values": values}]}
                plugin["affinity"] = {
                    "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}
                }

    return edit


def _local_accounts_and_unknown_rbac(doc: dict[str, Any]) -> None:
    cluster = _resources(doc, CLUSTER)[0]
    cluster["inputs"]["disableLocalAccounts"] = False
    cluster["inputs"]["enableRBAC"] = None  # unknown before deployment: "cannot verify", advisory


WHAT_IFS: dict[str, tuple[str, Callable[[dict[str, Any]], None], set[str], set[str]]] = {
    # name: (stack, edit, rules that must fail offline, rules that must pass offline)
    "public-ip-on-inline-system-pool": ("prod", _public_system_pool, {"aks-no-node-public-ip"}, set()),
    "second-inline-pool": ("dev", _second_inline_pool, {"aks-single-inline-pool"}, set()),
    "untainted-standby": ("staging", _untainted_standby, {"bluegreen-standby-tainted"}, set()),
    "standby-taint-on-active": ("prod", _standby_taint_on_active, {"bluegreen-standby-tainted"}, set()),
    "active-pool-without-nodes": ("prod", _active_pool_without_nodes, {"bluegreen-active-slot"}, set()),
    "egress-only-team-policy": ("prod", _egress_only_team_policy, {"team-network-isolation"}, set()),
    "dra-driver-on-both-allocations": (
        "dev",
        _dra_driver_by_affinity(["dra", "device-plugin"]),
        {"gpu-single-advertiser"},
        set(),
    ),
    # Not a violation: the affinity list keeps the DRA driver off the device-plugin pool.
    "dra-driver-kept-off-by-affinity": ("dev", _dra_driver_by_affinity(["dra"]), set(), {"gpu-single-advertiser"}),
    "local-accounts-and-unknown-rbac": (
        "dev",
        _local_accounts_and_unknown_rbac,
        {"aks-local-accounts-disabled"},
        set(),
    ),
}


@pytest.mark.parametrize("name", sorted(WHAT_IFS))
def test_edited_plan_gets_the_verdicts_of_stacks_check(
    name: str,
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
    plan_documents: dict[str, dict[str, Any]],
    policy_configs: dict[str, dict[str, Any]],
) -> None:
    stack, edit, failing, passing = WHAT_IFS[name]
    document = json.loads(json.dumps(plan_documents[stack]))
    edit(document)
    caught = {v.policy for v in evaluate_plan(document) if v.enforcement == "mandatory"}
    assert failing <= caught, f"{name}: the edit is not a violation offline ({sorted(caught)})"
    assert not passing & caught, f"{name}: {sorted(passing & caught)} fail offline"
    assert_same_verdicts(analyzer, document, policy_configs[stack])
