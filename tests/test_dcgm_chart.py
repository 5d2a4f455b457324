"""The DCGM exporter values against the real chart's documented keys (its published values.yaml).

The values file is the one NVIDIA publishes (tests/fixtures/dcgm-exporter/README.md: source and version).
What the templates do with ``kubernetesDRA.enabled`` (token mount, pods/resourceslices ClusterRole) was read
from the chart's templates; the chart's code itself is not kept in this repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from components.observability import DCGM_CHART, DCGM_CHART_VERSION

FIXTURES = Path(__file__).parent / "fixtures" / "dcgm-exporter"
CHART_VERSION = "4.8.2"
VALUES = FIXTURES / f"values-{CHART_VERSION}.yaml"
RELEASE = "kubernetes:helm.sh/v3:Release"


def _chart_values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(VALUES.read_text())
    return loaded


def _sent_values(plan_documents: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per stack, the values of every dcgm-exporter Release the plan registers."""
    found: dict[str, list[dict[str, Any]]] = {}
    for stack, document in plan_documents.items():
        for r in document["resources"]:
            if r["type"] == RELEASE and r["inputs"].get("chart") == DCGM_CHART:
                found.setdefault(stack, []).append(r["inputs"]["values"])
    return found


def _unknown_keys(sent: Any, chart: Any, path: str = "") -> list[str]:
    """Keys of ``sent`` the chart's values.yaml does not document.

    Descends while the chart's default is a non-empty mapping; an empty mapping (``nodeSelector: {}``,
    ``podLabels: {}``) or a list is free-form user data.
    """
    if not isinstance(sent, dict) or not isinstance(chart, dict) or not chart:
        return []
    unknown = []
    for key, value in sent.items():
        dotted = f"{path}{key}"
        if key not in chart:
            unknown.append(dotted)
        else:
            unknown.extend(_unknown_keys(value, chart[key], f"{dotted}."))
    return unknown


def test_fixture_is_the_values_file_of_the_pinned_minor() -> None:
    # Bumping the pin to another minor needs that chart's values.yaml here (README in the fixture folder).
    assert DCGM_CHART_VERSION.split(".")[:2] == CHART_VERSION.split(".")[:2]
    assert _chart_values()["kubernetesDRA"] == {"enabled": False}


def test_every_value_the_blueprint_sets_is_a_documented_chart_key(
    plan_documents: dict[str, dict[str, Any]],
) -> None:
    sent = _sent_values(plan_documents)
    assert set(sent) == set(plan_documents), "every shipped stack installs the exporter"
    chart = _chart_values()
    for stack, releases in sent.items():
        for values in releases:
            assert _unknown_keys(values, chart) == [], stack


def test_unknown_key_detection_is_not_vacuous() -> None:
    chart = _chart_values()
    assert _unknown_keys({"kubernetesDra": {"enabled": True}, "serviceMonitor": {"intervall": "1m"}}, chart) == [
        "kubernetesDra",
        "serviceMonitor.intervall",
    ]
    assert _unknown_keys({"nodeSelector": {"any/label": "x"}}, chart) == []
