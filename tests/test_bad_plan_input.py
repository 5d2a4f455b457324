"""``python -m stacks check PLAN.json`` on bad plan files: exit 2, one stderr line naming the file and the
key, nothing on stdout, no traceback (issue 12). Also: the evaluation of a much bigger plan (the AgentPools
copied many times) gives the same verdicts per pool as the original, so the indexed StackView changes speed
only."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks.scaled import scaled_plan
from policies.offline import evaluate_plan
from stacks.__main__ import main

Edit = Callable[[dict[str, Any]], Any]


@pytest.fixture(scope="module")
def valid_plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    target = tmp_path_factory.mktemp("plan") / "dev.json"
    assert main(["plan", "dev", "--json", str(target)]) == 0
    document: dict[str, Any] = json.loads(target.read_text())
    return document


def _set(path: str, value: Any) -> Edit:
    """An edit that sets a dotted path (``resources.0.inputs``) of the plan to ``value``."""

    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def _drop(path: str) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[last]

    return edit


GOOD_WAIVER = {"rule": "aks-entra-id", "resource": "x", "reason": "r", "expires": "2099-01-01"}

# (case id, edit of the valid document, key the message must name)
DOCUMENT_CASES: list[tuple[str, Edit, str]] = [
    ("waivers-not-list", _set("policy.waivers", {"rule": "x"}), "policy.waivers"),
    ("waivers-string", _set("policy.waivers", "aks-entra-id"), "policy.waivers"),
    ("waiver-not-object", _set("policy.waivers", ["aks-entra-id"]), "policy.waivers[0]"),
    (
        "waiver-missing-expires",
        _set("policy.waivers", [{k: v for k, v in GOOD_WAIVER.items() if k != "expires"}]),
        "policy.waivers[0].expires",
    ),
    (
        "waiver-missing-reason",
        _set("policy.waivers", [{k: v for k, v in GOOD_WAIVER.items() if k != "reason"}]),
        "policy.waivers[0].reason",
    ),
    ("waiver-rule-number", _set("policy.waivers", [{**GOOD_WAIVER, "rule": 3}]), "policy.waivers[0].rule"),
    (
        "waiver-expires-not-date",
        _set("policy.waivers", [{**GOOD_WAIVER, "expires": "soon"}]),
        "policy.waivers[0].expires",
    ),
    (
        "waiver-expires-number",
        _set("policy.waivers", [{**GOOD_WAIVER, "expires": 20990101}]),
        "policy.waivers[0].expires",
    ),
    ("budget-string", _set("policy.budgetMonthlyUsd", "lots"), "policy.budgetMonthlyUsd"),
    ("policy-list", _set("policy", []), "policy"),
    ("cost-items-object", _set("cost.items", {"kind": "nodePool"}), "cost.items"),
    ("cost-item-string", _set("cost.items", ["nodePool"]), "cost.items[0]"),
    ("cost-item-no-kind", _set("cost.items", [{"vmSize": "Standard_NC24ads_A100_v4"}]), "cost.items[0].kind"),
    (
        "cost-item-max-string",
        _set("cost.items", [{"kind": "nodePool", "maxMonthlyUsd": "9"}]),
        "cost.items[0].maxMonthlyUsd",
    ),
    ("cost-item-priced-string", _set("cost.items", [{"kind": "nodePool", "priced": "yes"}]), "cost.items[0].priced"),
    ("cost-not-object", _set("cost", [1]), "cost"),
    ("resources-object", _set("resources", {}), "resources"),
    ("resources-missing", _drop("resources"), "resources"),
    ("resource-not-object", _set("resources.0", "urn:x"), "resources[0]"),
    ("resource-no-type", _drop("resources.0.type"), "resources[0].type"),
    ("resource-no-urn", _drop("resources.0.urn"), "resources[0].urn"),
    ("resource-no-inputs", _drop("resources.0.inputs"), "resources[0].inputs"),
    ("resource-inputs-list", _set("resources.0.inputs", []), "resources[0].inputs"),
    ("resource-deps-string", _set("resources.1.dependencies", "urn:a"), "resources[1].dependencies"),
    ("schema-wrong", _set("schema", "platform-plan/v0"), "schema"),
    ("environment-wrong", _set("environment", "qa"), "environment"),
]


def _deep(levels: int) -> str:
    return '{"schema": "platform-plan/v1", "x": ' + "[" * levels + "]" * levels + "}"


# (case id, raw bytes of the file, key the message must name)
RAW_CASES: list[tuple[str, bytes, str]] = [
    ("not-json", b"schema: platform-plan/v1\n", "(syntax)"),
    ("truncated-json", b'{"schema": "platform-plan/v1", ', "(syntax)"),
    ("empty-file", b"", "(syntax)"),
    ("not-utf8", b'{"schema": "platform-plan/v1", "stack": "\xff\xfe"}', "(encoding)"),
    ("latin1", '{"stack": "Zürich"}'.encode("latin-1"), "(encoding)"),
    ("top-level-list", b"[]", "(root)"),
    ("top-level-number", b"3", "(root)"),
    ("nan-literal", b'{"schema": "platform-plan/v1", "policy": {"budgetMonthlyUsd": NaN}}', "(syntax)"),
    ("infinity-literal", b'{"schema": "platform-plan/v1", "cost": {"monthlyUsd": Infinity}}', "(syntax)"),
    ("minus-infinity-literal", b'{"x": -Infinity}', "(syntax)"),
    ("deep-100", _deep(100).encode(), "x"),
    ("deep-5000", _deep(5000).encode(), "(root)"),
    ("deep-200000", _deep(200_000).encode(), "(root)"),
]


def _assert_refused(capsys: pytest.CaptureFixture[str], argv: list[str], file_name: str, key: str) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert file_name in lines[0]
    assert key in lines[0], lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(("edit", "key"), [(e, k) for _, e, k in DOCUMENT_CASES], ids=[c[0] for c in DOCUMENT_CASES])
def test_bad_plan_document(
    edit: Edit, key: str, valid_plan: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = copy.deepcopy(valid_plan)
    edit(document)
    target = tmp_path / "edited-plan.json"
    target.write_text(json.dumps(document))
    _assert_refused(capsys, ["check", str(target)], "edited-plan.json", key)


@pytest.mark.parametrize(("data", "key"), [(d, k) for _, d, k in RAW_CASES], ids=[c[0] for c in RAW_CASES])
def test_bad_plan_bytes(data: bytes, key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "raw-plan.json"
    target.write_bytes(data)
    _assert_refused(capsys, ["check", str(target)], "raw-plan.json", key)


def test_plan_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "plan-dir.json"
    target.mkdir()
    _assert_refused(capsys, ["check", str(target)], "plan-dir.json", "(file)")


def test_plan_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _assert_refused(capsys, ["check", str(tmp_path / "absent-plan.json")], "absent-plan.json", "(file)")


def test_valid_plan_still_passes(
    valid_plan: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "plan.json"
    target.write_text(json.dumps(valid_plan))
    assert main(["check", str(target)]) in (0, 1)
    assert capsys.readouterr().err == ""


def test_scaled_plan_same_verdicts(valid_plan: dict[str, Any]) -> None:
    """Each copied pool gets exactly the verdicts of its original (same rules, same messages modulo name)."""
    base = evaluate_plan(valid_plan)
    scaled = evaluate_plan(scaled_plan(valid_plan, 20))
    per_urn = {(v.policy, v.urn, v.enforcement) for v in base}
    pools = {r["urn"] for r in valid_plan["resources"] if r["type"].endswith(":AgentPool")}
    for v in scaled:
        if v.urn and "-copy" in v.urn:
            original = v.urn.rsplit("-copy", 1)[0]
            assert original in pools
            assert (v.policy, original, v.enforcement) in per_urn
    copied = [v for v in scaled if v.urn and "-copy" in v.urn]
    pool_verdicts = [v for v in base if v.urn in pools]
    assert len(copied) == 20 * len(pool_verdicts)
