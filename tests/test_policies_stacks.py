"""The pack on whole stacks: shipped stacks pass, unsafe stack files fail with the expected rule,
``stacks check`` / ``policy-config`` behave, the CrossGuard adapters judge the same shapes, workflows are valid."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import PolicyResourceOptions, ResourceValidationArgs, ResourceValidationPolicy
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, UnknownValueError, unknown_checking_proxy

from policies.offline import evaluate_plan
from policies.pack import build_policies
from stacks.__main__ import main as stacks_main
from stacks.plan import run_plan

ROOT = Path(__file__).resolve().parent.parent
UNSAFE = ROOT / "tests" / "fixtures" / "unsafe"
EXPECTED = {
    "prod-public-spot": {"aks-api-server-private", "gpu-spot-allowed", "gpu-sku-allowed", "fleet-membership"},
    "prod-unprotected": {"protect-stateful", "fleet-membership"},
    "staging-free-tier": {"aks-paid-tier", "bluegreen-active-slot"},
    "dev-over-budget": {"gpu-budget", "aks-local-accounts-disabled"},
    "dev-expired-waiver": {"waiver-valid", "aks-local-accounts-disabled"},
}


def mandatory(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["enforcement"] == "mandatory"]


def test_every_shipped_stack_passes_its_environment_pack(plan_documents: dict[str, dict[str, Any]]) -> None:
    for stack, document in plan_documents.items():
        assert document["policy"]["budgetMonthlyUsd"], f"{stack} sets a GPU budget"
        failing = mandatory(document["policyViolations"])
        assert failing == [], f"{stack}: " + "\n".join(v["message"] for v in failing)
        # The plan's violations are exactly what the pack says about the written document.
        assert [v.to_json() for v in evaluate_plan(document)] == document["policyViolations"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_unsafe_stack_files_fail_with_the_expected_rules(name: str) -> None:
    plan = run_plan("unsafe", UNSAFE / f"{name}.yaml")
    failed = {v["policy"] for v in mandatory(plan.policy_violations)}
    assert EXPECTED[name] <= failed, sorted(failed)


def test_unsafe_fixture_set_is_complete() -> None:
    assert {p.stem for p in UNSAFE.glob("*.yaml")} == set(EXPECTED)


def edited(document: dict[str, Any], change: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(document))
    change(copy)
    return copy


def test_check_exit_codes(
    tmp_path: Path, plan_documents: dict[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    clean = plan_documents["dev"]
    clean_codes = 1 if mandatory(clean["policyViolations"]) else 0
    good = tmp_path / "good.json"
    good.write_text(json.dumps(clean))
    assert stacks_main(["check", str(good)]) == clean_codes

    def open_cluster(doc: dict[str, Any]) -> None:
        for r in doc["resources"]:
            if r["type"] == "azure-native:containerservice:ManagedCluster":
                r["inputs"]["disableLocalAccounts"] = False

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(edited(clean, open_cluster)))
    assert stacks_main(["check", str(bad)]) == 1
    assert "aks-local-accounts-disabled" in capsys.readouterr().out

    for text in ("not json", json.dumps({"schema": "other"}), json.dumps([1, 2])):
        broken = tmp_path / "broken.json"
        broken.write_text(text)
        assert stacks_main(["check", str(broken)]) == 2
    assert stacks_main(["check", str(tmp_path / "missing.json")]) == 2


def test_check_sees_a_hand_edited_what_if(plan_documents: dict[str, dict[str, Any]]) -> None:
    def spot_in_prod(doc: dict[str, Any]) -> None:
        for r in doc["resources"]:
            if r["type"] == "azure-native:containerservice:AgentPool":
                r["inputs"]["scaleSetPriority"] = "Spot"

    found = {v.policy for v in evaluate_plan(edited(plan_documents["prod"], spot_in_prod))}
    assert "gpu-spot-allowed" in found


def test_policy_config_command_prints_the_pack_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert stacks_main(["policy-config", "prod"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["gpu-budget"]["budgetMonthlyUsd"] > 0
    assert config["aks-api-server-private"]["enforcementLevel"] == "mandatory"
    assert config["tags-environment-match"]["environment"] == "prod"


def test_crossguard_adapter_reports_violations_and_unknowns_like_the_engine() -> None:
    policies = {p.name: p for p in build_policies()}
    assert len(policies) >= 30
    policy = policies["aks-local-accounts-disabled"]
    assert isinstance(policy, ResourceValidationPolicy)
    opts = PolicyResourceOptions(True, [], None, [], None, [], None)  # type: ignore[arg-type]

    def validate(props: dict[str, Any], config: dict[str, Any] | None = None) -> list[str]:
        reported: list[str] = []
        args = ResourceValidationArgs(
            "azure-native:containerservice:ManagedCluster",
            unknown_checking_proxy(props),
            "urn:pulumi:dev::ai-platform::x::weu1-aks",
            "weu1-aks",
            opts,
            None,
            config,
        )

        def report(message: str, urn: str | None = None) -> None:
            reported.append(message)

        policy.validate(args, report)
        return reported

    assert validate({"disableLocalAccounts": True}) == []
    [message] = validate({"disableLocalAccounts": False})
    assert "disableLocalAccounts is false" in message
    waived = {"waivers": [{"resource": "weu1-aks", "reason": "migration window", "expires": "2999-01-01"}]}
    assert validate({"disableLocalAccounts": False}, waived) == []
    with pytest.raises(UnknownValueError) as unknown:
        validate({"disableLocalAccounts": UNKNOWN_BOOLEAN_VALUE})
    assert "cannot verify" in unknown.value.message


def test_pack_entry_point_is_never_imported() -> None:
    offenders = [p for p in (ROOT / "policies").rglob("*.py") if "policies.__main__" in p.read_text()]
    assert offenders == []
    assert "PolicyPack(" in (ROOT / "policies" / "__main__.py").read_text()


WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_workflows_validate_against_the_github_schema() -> None:
    assert len(WORKFLOWS) >= 2
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_preview_workflow_uses_the_pack_with_oidc() -> None:
    preview = next(yaml.safe_load(p.read_text()) for p in WORKFLOWS if "preview" in p.name)
    text = json.dumps(preview)
    assert preview["permissions"]["id-token"] == "write"
    assert "pulumi/actions@v7" in text
    assert "policyPacks" in text
    assert "policyPackConfigs" in text
    assert "azure/login@" in text
    assert "ARM_USE_OIDC" in text
    assert "workloadidentity" in text
