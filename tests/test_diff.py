"""``stacks diff``: every blue-green runbook step and every unsafe edit, classified and judged against BASE.

Plans are built once per module (the runbook's four steps plus one plan per edit that needs the real program);
edits whose effect on the plan is one known input (a pod CIDR, a protected resource) are applied to plan
documents, the same JSON the CLI reads.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.__main__ import main
from stacks.diff import diff
from stacks.diff.render import MARKER, render_markdown, to_json
from stacks.diff.sides import SECRET_SIG_KEY, SECRET_SIG_VALUE, engine_urns, side_from_export, side_from_plan
from stacks.diff.triggers import TRIGGERS
from stacks.plan import run_plan
from tests.helpers import git, project_repo
from tests.test_blue_green import _runbook_groups, _staging

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "diff.md"
STEP_FILES = ("step1-prepare.json", "step3-switch.json", "step6-scale-down.json", "step7-remove.json")
Edit = Callable[[dict[str, Any]], None]


def _plan_edit(tmp: Path, name: str, edit: Edit) -> dict[str, Any]:
    path = tmp / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(_staging(edit)))
    return run_plan("staging", path).to_json()


def _a100(config: dict[str, Any]) -> dict[str, Any]:
    group: dict[str, Any] = config["ai-platform:clusters"]["weu1"]["gpuPools"]["a100"]
    return group


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory, plan_documents: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Plan documents: the shipped staging stack, each runbook step, and the edits that need the real program."""
    tmp = tmp_path_factory.mktemp("diff")
    result = {"shipped": plan_documents["staging"]}
    for file, group in zip(STEP_FILES, _runbook_groups(), strict=True):
        result[file] = _plan_edit(tmp, file.split(".")[0], lambda c, g=group: _a100(c).update(g))

    def system_pool_and_green(config: dict[str, Any]) -> None:
        config["ai-platform:clusters"]["weu1"]["systemPool"] = {"maxCount": 6}
        _a100(config)["slots"]["green"]["minCount"] = 1

    def renamed(alias: bool) -> Edit:
        def edit(config: dict[str, Any]) -> None:
            pools = config["ai-platform:clusters"]["weu1"]["gpuPools"]
            pools["gpua"] = pools.pop("a100") | ({"renamedFrom": "a100"} if alias else {})

        return edit

    result["system-and-pools"] = _plan_edit(tmp, "sys", system_pool_and_green)
    result["renamed"] = _plan_edit(tmp, "renamed", renamed(alias=False))
    result["renamed-with-alias"] = _plan_edit(tmp, "alias", renamed(alias=True))
    return result


def _diff(base: dict[str, Any], head: dict[str, Any]) -> Any:
    return diff(side_from_plan(base, "plan", "BASE"), side_from_plan(head, "plan", "HEAD"))


def _ops(result: Any) -> dict[str, str]:
    return {s.name: s.op for s in result.steps if s.op != "same"}


def _rules(result: Any) -> set[str]:
    return {f.rule for f in result.findings}


def _files(tmp_path: Path, **documents: dict[str, Any]) -> dict[str, str]:
    paths = {}
    for name, document in documents.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(document))
        paths[name] = str(path)
    return paths


# --------------------------------------------------------------------------------------------------------
# The runbook, step by step: each classified, each safe (exit 0)
# --------------------------------------------------------------------------------------------------------

RUNBOOK = [
    # (BASE, HEAD, expected non-"same" operations)
    ("shipped", "step1-prepare.json", {"weu1-gpu-a100green": "update"}),
    (
        "step1-prepare.json",
        "step3-switch.json",
        {
            "weu1-gpu-a100blue": "update",
            "weu1-gpu-a100green": "update",
            "weu1-models-mistral-deployment": "update",
            "monitoring-weu1-GpuAlertsRuleGroup": "update",
        },
    ),
    (  # step 5: roll back
        "step3-switch.json",
        "step1-prepare.json",
        {
            "weu1-gpu-a100blue": "update",
            "weu1-gpu-a100green": "update",
            "weu1-models-mistral-deployment": "update",
            "monitoring-weu1-GpuAlertsRuleGroup": "update",
        },
    ),
    ("step3-switch.json", "step6-scale-down.json", {"weu1-gpu-a100blue": "update"}),
    ("step6-scale-down.json", "step7-remove.json", {"weu1-gpu-a100blue": "delete"}),
]


@pytest.mark.parametrize(("base", "head", "ops"), RUNBOOK, ids=["step1", "step3", "step5", "step6", "step7"])
def test_each_runbook_step_is_classified_and_safe(docs, tmp_path: Path, capsys, base: str, head: str, ops) -> None:
    paths = _files(tmp_path, base=docs[base], head=docs[head])
    code = main(["diff", paths["base"], paths["head"]])
    out = capsys.readouterr()
    assert code == 0, out.out
    assert out.err == ""
    result = _diff(docs[base], docs[head])
    assert _ops(result) == ops
    assert result.findings == []


def test_switch_changes_exactly_what_the_runbook_says(docs) -> None:
    result = _diff(docs["step1-prepare.json"], docs["step3-switch.json"])
    by_name = {s.name: {c.path for c in s.changes} for s in result.steps if s.op == "update"}
    assert by_name["weu1-gpu-a100green"] == {
        "nodeLabels.ai-platform/slot-role",
        "nodeTaints",
        "tags.ai-platform-slot-role",
    }
    assert by_name["weu1-models-mistral-deployment"] == {"spec.template.spec.nodeSelector.ai-platform/color"}
    # count belongs to the autoscaler: never part of the diff even though it is in the inputs
    assert not any(c.path == "count" for s in result.steps for c in s.changes)


def test_scale_up_costs_money_and_says_so(docs) -> None:
    result = _diff(docs["shipped"], docs["step1-prepare.json"])
    cost = result.cost()
    assert cost["basis"] == "expected"
    assert cost["deltaMonthlyUsd"] == pytest.approx(cost["headMonthlyUsd"] - cost["baseMonthlyUsd"], abs=0.01)
    assert cost["deltaMonthlyUsd"] > 0  # one more NC48ads A100 node at minCount


# --------------------------------------------------------------------------------------------------------
# Unsafe edits: each one's classification, rule and exit code
# --------------------------------------------------------------------------------------------------------


def _exit(docs_or_base: dict[str, Any], head: dict[str, Any], tmp_path: Path, capsys) -> tuple[int, str]:
    paths = _files(tmp_path, base=docs_or_base, head=head)
    code = main(["diff", paths["base"], paths["head"]])
    out = capsys.readouterr()
    assert out.err == ""
    return code, out.out


def test_switch_and_remove_the_old_colour_in_one_change(docs, tmp_path: Path, capsys) -> None:
    result = _diff(docs["step1-prepare.json"], docs["step7-remove.json"])
    assert _ops(result)["weu1-gpu-a100blue"] == "delete"
    assert _rules(result) == {"serving-pool-removed", "active-colour-removed"}
    code, out = _exit(docs["step1-prepare.json"], docs["step7-remove.json"], tmp_path, capsys)
    assert code == 1
    assert "[unsafe] active-colour-removed: weu1-gpu-a100blue" in out
    assert "Fix: switch active to the other colour in one change" in out


def test_switch_to_a_colour_without_nodes(docs, tmp_path: Path, capsys) -> None:
    # The shipped stack has green at minCount 0: switching straight to it skips runbook step 1.
    result = _diff(docs["shipped"], docs["step3-switch.json"])
    (finding,) = result.findings
    assert finding.rule == "switch-without-capacity"
    assert "minCount 0 in BASE" in finding.message
    assert _exit(docs["shipped"], docs["step3-switch.json"], tmp_path, capsys)[0] == 1


def test_switch_to_a_colour_created_in_the_same_change(docs) -> None:
    base = copy.deepcopy(docs["step1-prepare.json"])
    base["resources"] = [r for r in base["resources"] if r["name"] != "weu1-gpu-a100green"]
    result = _diff(base, docs["step3-switch.json"])
    assert _ops(result)["weu1-gpu-a100green"] == "create"
    assert "switch-without-capacity" in _rules(result)
    assert "which this same change creates" in next(f.message for f in result.findings)


def test_switch_to_another_mig_profile_while_the_model_needs_the_old_one(docs) -> None:
    # BASE had green sliced MIG2g; the model's claim template (a100-3g) is unchanged by the switch.
    base, head = copy.deepcopy(docs["step1-prepare.json"]), copy.deepcopy(docs["step3-switch.json"])
    for document in (base, head):
        pool = next(r for r in document["resources"] if r["name"] == "weu1-gpu-a100green")
        pool["inputs"]["gpuInstanceProfile"] = "MIG2g"
    result = _diff(base, head)
    finding = next(f for f in result.findings if f.rule == "switch-gpu-mismatch")
    assert "(MIG3g) to A100-80GB (MIG2g)" in finding.message
    assert "weu1-models-mistral-deployment" in finding.message


def test_inline_system_pool_and_agentpools_in_one_update(docs, tmp_path: Path, capsys) -> None:
    result = _diff(docs["shipped"], docs["system-and-pools"])
    assert _ops(result) == {"weu1-aks": "update", "weu1-gpu-a100green": "update"}
    cluster = next(s for s in result.steps if s.name == "weu1-aks")
    assert [c.path for c in cluster.changes] == ["agentPoolProfiles[0].maxCount"]
    (finding,) = result.findings
    assert finding.rule == "inline-and-agentpools-together"
    assert "pulumi-azure-native#2719, #4264" in finding.message
    assert _exit(docs["shipped"], docs["system-and-pools"], tmp_path, capsys)[0] == 1
    # Each half alone is safe.
    assert _diff(docs["shipped"], docs["step1-prepare.json"]).findings == []


def test_new_pod_cidr_replaces_the_cluster(docs, tmp_path: Path, capsys) -> None:
    head = copy.deepcopy(docs["shipped"])
    cluster = next(r for r in head["resources"] if r["name"] == "weu1-aks")
    cluster["inputs"]["networkProfile"]["podCidr"] = "100.64.0.0/16"
    result = _diff(docs["shipped"], head)
    assert _ops(result) == {"weu1-aks": "replace"}
    (change,) = next(s for s in result.steps if s.name == "weu1-aks").changes
    assert change.path == "networkProfile.podCidr"
    assert change.trigger is not None
    assert "replacement.go" in change.trigger.source
    assert _rules(result) == {"cluster-replaced"}
    assert _exit(docs["shipped"], head, tmp_path, capsys)[0] == 1


def test_vm_size_on_an_existing_slot_is_a_replacement_that_cannot_run(docs) -> None:
    head = copy.deepcopy(docs["shipped"])
    pool = next(r for r in head["resources"] if r["name"] == "weu1-gpu-a100green")
    pool["inputs"]["vmSize"] = "Standard_NC96ads_A100_v4"
    result = _diff(docs["shipped"], head)
    assert _ops(result) == {"weu1-gpu-a100green": "replace"}
    assert _rules(result) == {"pool-replaced-in-place"}


def test_zones_of_an_existing_slot_are_refused_in_place(docs) -> None:
    head = copy.deepcopy(docs["shipped"])
    pool = next(r for r in head["resources"] if r["name"] == "weu1-gpu-a100green")
    pool["inputs"]["availabilityZones"] = ["1", "2", "3"]
    result = _diff(docs["shipped"], head)
    assert _ops(result) == {"weu1-gpu-a100green": "refuse"}
    (finding,) = result.findings
    assert finding.rule == "immutable-property-changed"
    assert "availabilityZones" in finding.message


def test_ignored_paths_are_not_changes(docs) -> None:
    head = copy.deepcopy(docs["shipped"])
    cluster = next(r for r in head["resources"] if r["name"] == "weu1-aks")
    cluster["inputs"]["kubernetesVersion"] = "1.35"  # Fleet-owned: ignoreChanges
    cluster["inputs"]["agentPoolProfiles"][0]["count"] = 4  # autoscaler-owned
    assert _ops(_diff(docs["shipped"], head)) == {}


def test_deleting_a_protected_or_stateful_resource(docs, tmp_path: Path, capsys) -> None:
    base = copy.deepcopy(docs["shipped"])
    grafana = next(r for r in base["resources"] if r["name"] == "monitoring-grafana")
    grafana["protect"] = True
    head = copy.deepcopy(base)
    head["resources"] = [
        r for r in head["resources"] if r["name"] not in ("monitoring-grafana", "monitoring-workspace")
    ]
    result = _diff(base, head)
    assert _ops(result) == {"monitoring-grafana": "delete", "monitoring-workspace": "delete"}
    messages = {f.name: f.message for f in result.findings if f.rule == "stateful-deleted"}
    assert "Pulumi refuses to delete a protected resource" in messages["monitoring-grafana"]
    assert "stateful AzureMonitorWorkspace" in messages["monitoring-workspace"]
    assert _exit(base, head, tmp_path, capsys)[0] == 1


def test_a_removed_team_is_retained_not_deleted(docs) -> None:
    head = copy.deepcopy(docs["shipped"])
    head["resources"] = [r for r in head["resources"] if r["name"] != "weu1-dra-ns-research"]
    result = _diff(docs["shipped"], head)
    (step,) = [s for s in result.steps if s.op == "delete"]
    assert step.to_json()["retainOnDelete"] is True
    assert result.findings == []


def test_a_rename_without_alias_deletes_and_recreates(docs, tmp_path: Path, capsys) -> None:
    result = _diff(docs["shipped"], docs["renamed"])
    ops = _ops(result)
    assert ops["weu1-gpu-a100blue"] == ops["weu1-gpu-a100green"] == "delete"
    assert ops["weu1-gpu-gpuablue"] == ops["weu1-gpu-gpuagreen"] == "create"
    renames = {f.name for f in result.findings if f.rule == "rename-recreates"}
    assert renames == {"weu1-gpu-a100blue", "weu1-gpu-a100green"}
    assert "gpuPools.<group>.renamedFrom" in next(f.fix for f in result.findings if f.rule == "rename-recreates")
    assert "serving-pool-removed" in _rules(result)
    assert _exit(docs["shipped"], docs["renamed"], tmp_path, capsys)[0] == 1


def test_a_rename_with_renamed_from_changes_nothing(docs) -> None:
    result = _diff(docs["shipped"], docs["renamed-with-alias"])
    assert _ops(result) == {}
    assert result.exit_code() == 0


def test_a_new_mandatory_policy_violation_fails_the_diff(docs, tmp_path: Path, capsys) -> None:
    head = copy.deepcopy(docs["step1-prepare.json"])
    head["policyViolations"] = [
        {"policy": "aks-paid-tier", "enforcement": "mandatory", "urn": "u", "message": "tier is Free"}
    ]
    code, out = _exit(docs["step1-prepare.json"], head, tmp_path, capsys)
    assert code == 1
    assert "1 policy violation: UNSAFE" in out
    assert "+ [mandatory] aks-paid-tier: tier is Free" in out


# --------------------------------------------------------------------------------------------------------
# Replace-trigger table
# --------------------------------------------------------------------------------------------------------


def test_every_trigger_has_a_source_and_a_known_action() -> None:
    assert len(TRIGGERS) >= 40
    for trigger in TRIGGERS:
        assert trigger.action in ("replace", "refuse"), trigger
        assert trigger.source, trigger
        assert trigger.why, trigger
    paths = {(t.type.rsplit(":", 1)[-1], t.path) for t in TRIGGERS}
    for expected in (
        ("AgentPool", "vmSize"),
        ("AgentPool", "availabilityZones"),
        ("AgentPool", "osDiskSizeGB"),
        ("AgentPool", "creationData"),
        ("ManagedCluster", "networkProfile"),
        ("Deployment", "spec.selector"),
        ("Service", "spec.clusterIP"),
    ):
        assert expected in paths


# --------------------------------------------------------------------------------------------------------
# Stack exports: the deployed state as BASE, secrets never shown
# --------------------------------------------------------------------------------------------------------

PLAINTEXT = "hf_do_not_print_this_token"
CIPHERTEXT = "v1:c2VjcmV0LWNpcGhlcnRleHQ="


def _export(document: dict[str, Any], show_secrets: bool) -> dict[str, Any]:
    """``pulumi stack export`` of a deployed stack with ``document``'s inputs (engine URNs, Stack, default provider)."""
    rename = engine_urns(document["resources"])
    stack = f"urn:pulumi:{document['stack']}::ai-platform::pulumi:pulumi:Stack::ai-platform-{document['stack']}"
    secret = {
        SECRET_SIG_KEY: SECRET_SIG_VALUE,
        **({"plaintext": json.dumps(PLAINTEXT)} if show_secrets else {"ciphertext": CIPHERTEXT}),
    }

    def state(value: Any) -> Any:
        if value == "[secret]":
            return secret
        if isinstance(value, dict):
            return {k: state(v) for k, v in value.items()}
        if isinstance(value, list):
            return [state(v) for v in value]
        return value

    resources: list[dict[str, Any]] = [{"urn": stack, "custom": False, "type": "pulumi:pulumi:Stack"}]
    resources.append(
        {
            "urn": f"urn:pulumi:{document['stack']}::ai-platform::pulumi:providers:azure-native::default_3_10_0",
            "custom": True,
            "id": "0f6c",
            "type": "pulumi:providers:azure-native",
            "inputs": {"version": "3.10.0"},
        }
    )
    for r in document["resources"]:
        entry: dict[str, Any] = {
            "urn": rename[r["urn"]],
            "custom": r["custom"],
            "type": r["type"],
            "parent": rename.get(r["parent"], stack),
            "dependencies": [rename[d] for d in r["dependencies"]],
        }
        if r["custom"]:
            entry |= {"id": f"/subscriptions/0000/{r['name']}", "inputs": state(r["inputs"]), "outputs": {}}
        for key in ("protect", "retainOnDelete"):
            if r[key]:
                entry[key] = True
        if r["ignoreChanges"]:
            entry["ignoreChanges"] = r["ignoreChanges"]
        resources.append(entry)
    return {
        "version": 3,
        "deployment": {
            "manifest": {"time": "2026-11-30T10:00:00Z", "magic": "m", "version": "v3.200.0"},
            "resources": resources,
        },
    }


@pytest.mark.parametrize("show_secrets", [False, True], ids=["ciphertext", "plaintext"])
def test_deployed_state_as_base_matches_the_plan_urn_for_urn(docs, tmp_path: Path, capsys, show_secrets: bool) -> None:
    export = _export(docs["shipped"], show_secrets)
    export_text = json.dumps(export)
    assert (PLAINTEXT in export_text) is show_secrets
    paths = _files(tmp_path, base=export, head=docs["step1-prepare.json"])
    markdown, report = tmp_path / "diff.md", tmp_path / "diff.json"
    code = main(["diff", paths["base"], paths["head"], "--markdown", str(markdown), "--json", str(report)])
    out = capsys.readouterr().out
    assert code == 0
    document = json.loads(report.read_text())
    assert document["base"]["kind"] == "export"
    assert [(s["name"], s["op"]) for s in document["steps"]] == [("weu1-gpu-a100green", "update")]
    # The deployed state is priced from its pools and judged by the pack like a plan.
    assert document["cost"]["basis"] == "minCount"
    assert document["cost"]["baseMonthlyUsd"] == docs["shipped"]["cost"]["monthlyUsd"]
    assert document["cost"]["headMonthlyUsd"] == docs["step1-prepare.json"]["cost"]["monthlyUsd"]
    assert document["policy"]["resolved"] == document["policy"]["added"] == []
    for text in (out, markdown.read_text(), report.read_text()):
        assert PLAINTEXT not in text
        assert CIPHERTEXT not in text


def test_a_secret_that_changes_shows_only_secret_markers(docs) -> None:
    export = _export(docs["shipped"], show_secrets=True)
    secret = next(r for r in export["deployment"]["resources"] if r["type"] == "kubernetes:core/v1:Secret")
    secret["inputs"]["stringData"] = {"token": PLAINTEXT}  # deployed before it was marked secret
    result = diff(side_from_export(export, "state.json"), side_from_plan(docs["shipped"], "plan", "HEAD"))
    (step,) = [s for s in result.steps if s.op != "same"]
    text = json.dumps(to_json(result)) + render_markdown(result)
    assert step.type == "kubernetes:core/v1:Secret"
    (change,) = step.changes
    assert change.path == "stringData"
    assert change.secret
    assert change.to_json() == {"path": "stringData", "old": "[secret]", "new": "[secret]"}
    assert PLAINTEXT not in text


# --------------------------------------------------------------------------------------------------------
# --base-ref: a stack planned at a git ref, in a temporary worktree
# --------------------------------------------------------------------------------------------------------


def test_base_ref_plans_the_stack_at_the_ref_without_touching_the_working_tree(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    repo = project_repo(tmp_path / "repo")
    stack_file = repo / "Pulumi.staging.yaml"
    edited = stack_file.read_text().replace("minCount: 0\n", "minCount: 1\n", 1)
    assert edited != stack_file.read_text()
    stack_file.write_text(edited)
    monkeypatch.chdir(repo)
    report = tmp_path / "diff.json"
    code = main(["diff", "--base-ref", "main", "--stack", "staging", "--json", str(report)])
    out = capsys.readouterr()
    assert code == 0, out.err
    document = json.loads(report.read_text())
    assert document["base"]["kind"] == "ref"
    assert document["head"]["kind"] == "workingTree"
    assert [(s["name"], s["op"], [c["path"] for c in s["changes"]]) for s in document["steps"]] == [
        ("weu1-gpu-a100green", "update", ["minCount"])
    ]
    # The temporary worktree is gone and the working tree still holds exactly the edit.
    assert git(repo, "worktree", "list").count("\n") == 1
    assert git(repo, "status", "--porcelain").split() == ["M", "Pulumi.staging.yaml"]
    assert stack_file.read_text() == edited


# --------------------------------------------------------------------------------------------------------
# Bad input: one line naming the key, exit 2, nothing on stdout, nothing written
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda t, plan: [str(t / "missing.json"), plan], "BASE {t}/missing.json: (file): not found"),
        (lambda t, plan: [_write(t, "bad.json", "{"), plan], "BASE {t}/bad.json: (syntax): not JSON"),
        (
            lambda t, plan: [_write(t, "other.json", json.dumps({"schema": "x/v9", "resources": []})), plan],
            "BASE {t}/other.json: schema: is 'x/v9'; expected 'platform-plan/v1'",
        ),
        (
            lambda t, plan: [plan, _write(t, "export.json", json.dumps({"deployment": {"resources": [{"urn": 1}]}}))],
            "HEAD {t}/export.json: deployment.resources[0]: not a resource with a string urn and type",
        ),
        (lambda t, plan: [plan], "--stack: required unless BASE and HEAD are both files"),
        (
            lambda t, plan: [
                _write(t, "prod.json", json.dumps({**json.loads(Path(plan).read_text()), "stack": "prod"})),
                plan,
            ],
            "HEAD {t}/plan.json: is stack 'dev', BASE {t}/prod.json is 'prod'",
        ),
        (lambda t, plan: [plan, plan, plan], "BASE HEAD: expected at most 2 file(s)"),
        (lambda t, plan: [plan, plan, "--json", str(t)], "--json names a directory"),
        (lambda t, plan: [plan, plan, "--markdown", str(t / "no" / "x.md")], "--markdown folder does not exist"),
        (
            lambda t, plan: ["--base-ref", "no-such-ref", "--stack", "staging"],
            "--base-ref: 'no-such-ref' names no commit",
        ),
        (
            lambda t, plan: ["--base-ref", "HEAD", "--stack", "nosuch"],
            "--stack: 'nosuch' has no Pulumi.nosuch.yaml at HEAD",
        ),
        (lambda t, plan: ["--base-ref=--upload-pack=x", "--stack", "staging"], "--base-ref: not a git ref"),
    ],
    ids=[
        "missing",
        "syntax",
        "schema",
        "export-shape",
        "one-file",
        "other-stack",
        "three-files",
        "json-dir",
        "md-folder",
        "ref",
        "stack-at-ref",
        "option-as-ref",
    ],
)
def test_bad_input_is_one_line_and_exit_2(plan_documents, tmp_path: Path, capsys, make, expected: str) -> None:
    plan = _write(tmp_path, "plan.json", json.dumps(plan_documents["dev"]))
    markdown = tmp_path / "comment.md"
    argv = make(tmp_path, plan)
    if "--markdown" not in argv:
        argv = [*argv, "--markdown", str(markdown)]
    code = main(["diff", *argv])
    out = capsys.readouterr()
    assert code == 2
    assert out.out == ""
    (line,) = out.err.splitlines()
    assert expected.format(t=tmp_path) in line
    assert "Traceback" not in out.err
    assert not markdown.exists()


def _write(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


# --------------------------------------------------------------------------------------------------------
# platform-diff/v1 contract, and the docs sample cannot go stale
# --------------------------------------------------------------------------------------------------------

STEP_KEYS = {"op", "urn", "type", "name", "cluster", "component", "changes"}


def test_platform_diff_v1_contract(docs) -> None:
    document = to_json(_diff(docs["step1-prepare.json"], docs["step7-remove.json"]))
    assert json.loads(json.dumps(document)) == document
    assert set(document) == {
        "schema",
        "stack",
        "project",
        "base",
        "head",
        "summary",
        "steps",
        "unchanged",
        "cost",
        "policy",
        "findings",
        "safe",
        "exitCode",
        "triggerTable",
    }
    assert document["schema"] == "platform-diff/v1"
    assert set(document["summary"]) == {"create", "update", "replace", "refuse", "delete", "same", "line"}
    assert set(document["cost"]) == {"basis", "baseMonthlyUsd", "headMonthlyUsd", "deltaMonthlyUsd"}
    assert set(document["policy"]) == {"headViolations", "added", "resolved", "mandatory"}
    for step in document["steps"]:
        assert set(step) >= STEP_KEYS
        assert step["urn"].startswith("urn:pulumi:staging::ai-platform::")
        assert "pulumi:pulumi:Stack" not in step["urn"]
        for change in step["changes"]:
            assert set(change) >= {"path", "old", "new"}
    for finding in document["findings"]:
        assert set(finding) == {"rule", "severity", "urn", "name", "message", "fix"}
    assert document["safe"] is False
    assert document["exitCode"] == 1
    # Engine URNs carry the full parent chain: the pool sits under AksCluster$BlueGreenGpuPools.
    (pool,) = [s for s in document["steps"] if s["name"] == "weu1-gpu-a100blue"]
    assert "aiplatform:index:AksCluster$aiplatform:index:BlueGreenGpuPools$azure-native" in pool["urn"]
    assert to_json(_diff(docs["step1-prepare.json"], docs["step7-remove.json"])) == document  # deterministic


def _docs_sample(name: str, path: Path = DOCS) -> str:
    text = path.read_text()
    match = re.search(rf"<!-- sample:{name} -->\n````markdown\n(.*?)````\n", text, flags=re.S)
    assert match is not None, f"{path.name} has no sample:{name} block"
    return match.group(1)


def test_docs_sample_is_the_tools_output_for_the_switch(docs, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("step1-prepare.json", "step3-switch.json"):
        (tmp_path / name).write_text(json.dumps(docs[name]))
    code = main(["diff", "step1-prepare.json", "step3-switch.json", "--markdown", "comment.md"])
    capsys.readouterr()
    assert code == 0
    comment = (tmp_path / "comment.md").read_text()
    assert comment.startswith(MARKER + "\n")
    assert _docs_sample("switch") == comment
    assert _docs_sample("switch", ROOT / "README.md") == comment


def test_an_aliased_rename_is_the_same_resource(docs) -> None:
    """HEAD's ``aliases`` option names BASE's URN: matched as one resource, not a delete and a create."""
    head = copy.deepcopy(docs["shipped"])
    (pool,) = [r for r in head["resources"] if r["name"] == "weu1-gpu-a100green"]
    pool["urn"] = pool["urn"].replace("::weu1-gpu-a100green", "::weu1-gpu-a100standby")
    pool["name"] = "weu1-gpu-a100standby"
    pool["aliases"] = [{"name": "weu1-gpu-a100green", "parentUrn": ""}]
    result = _diff(docs["shipped"], head)
    assert _ops(result) == {}
    (step,) = [s for s in result.steps if s.name == "weu1-gpu-a100standby"]
    assert step.renamed_from is not None
    assert step.renamed_from.endswith("BlueGreenGpuPools$azure-native:containerservice:AgentPool::weu1-gpu-a100green")
    # Without the alias the same edit is a rename that deletes and recreates.
    pool["aliases"] = []
    assert "rename-recreates" in _rules(_diff(docs["shipped"], head))
