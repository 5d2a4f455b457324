"""Cost: the pure pricing function over plan resources, overrides, and the plan's cost section."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components.pricing import PRICES_FILE, PricingSpec, check_provenance, estimate_cost, price_table

CLUSTER = "urn:pulumi:t::p::x$azure-native:containerservice:ManagedCluster::weu1-aks"


def _resources(spot: bool = False) -> list[dict[str, Any]]:
    return [
        {
            "type": "azure-native:containerservice:ManagedCluster",
            "urn": CLUSTER,
            "name": "weu1-aks",
            "inputs": {
                "location": "eastus",
                "sku": {"tier": "Standard"},
                "agentPoolProfiles": [{"name": "system", "vmSize": "Standard_D4ds_v5", "minCount": 2, "maxCount": 3}],
            },
            "dependencies": [],
        },
        {
            "type": "azure-native:containerservice:AgentPool",
            "urn": "urn:pool",
            "name": "weu1-gpu-a100blue",
            "inputs": {
                "agentPoolName": "a100blue",
                "vmSize": "Standard_NC24ads_A100_v4",
                "minCount": 1,
                "maxCount": 4,
                **({"scaleSetPriority": "Spot"} if spot else {}),
            },
            "dependencies": [CLUSTER],
        },
    ]


def test_baseline_and_max_follow_min_and_max_counts() -> None:
    cost = estimate_cost(_resources())
    pool = next(i for i in cost["items"] if i.get("pool") == "a100blue")
    # 3.673 USD/h x 1 node x 730 h = 2681.29; at maxCount 4 nodes: 10725.16
    assert pool["baselineMonthlyUsd"] == pytest.approx(2681.29)
    assert pool["maxMonthlyUsd"] == pytest.approx(10725.16)
    # system pool 0.226 x 2 x 730 = 329.96; Standard tier 0.10 x 730 = 73.0
    assert cost["monthlyUsd"] == pytest.approx(2681.29 + 329.96 + 73.0)
    assert pool["region"] == "eastus"
    assert not pool["regionFallback"]


def test_region_comes_from_the_cluster_and_falls_back_visibly() -> None:
    resources = _resources()
    resources[0]["inputs"]["location"] = "westeurope"
    pool = next(i for i in estimate_cost(resources)["items"] if i.get("pool") == "a100blue")
    assert pool["region"] == "westeurope"
    assert pool["priceRegion"] == "eastus"
    assert pool["regionFallback"] is True
    # the line names where the stand-in (eastus) price came from
    assert pool["priceSource"] == price_table().price_sources["Standard_NC24ads_A100_v4"]["eastus"]


def test_stack_override_replaces_the_shipped_price() -> None:
    table = price_table(PricingSpec.model_validate({"vmSizes": {"Standard_NC24ads_A100_v4": {"eastus": 2.0}}}))
    pool = next(i for i in estimate_cost(_resources(), table)["items"] if i.get("pool") == "a100blue")
    assert pool["hourlyUsd"] == 2.0
    assert pool["baselineMonthlyUsd"] == pytest.approx(1460.0)
    assert pool["priceSource"] == "stack:pricing"


def test_every_shipped_price_names_a_described_source() -> None:
    data = yaml.safe_load(PRICES_FILE.read_text())
    assert check_provenance(data) == []
    table = price_table()
    for size, regions in table.vm_sizes.items():
        for region in regions:
            source = table.source_of(size, region)
            assert source in table.sources, f"{size}@{region}"
            assert table.sources[source]["url"].startswith("https://")
    assert estimate_cost(_resources())["prices"]["sources"] == table.sources


def test_a_price_without_a_source_is_rejected() -> None:
    data = yaml.safe_load(PRICES_FILE.read_text())
    data["vmSizes"]["Standard_D4ds_v5"]["westeurope"] = 0.25
    data["priceSources"]["Standard_D8ds_v5"]["eastus"] = "memory"
    assert check_provenance(data) == [
        "vmSizes.Standard_D4ds_v5.westeurope: no priceSources entry",
        "priceSources.Standard_D8ds_v5.eastus: source 'memory' not described under sources",
    ]


def test_unpriced_sizes_are_listed_not_silently_zero() -> None:
    resources = _resources()
    resources[1]["inputs"]["vmSize"] = "Standard_ND96isr_H200_v5"
    cost = estimate_cost(resources)
    assert cost["unpriced"] == ["Standard_ND96isr_H200_v5"]


def test_spot_pools_are_marked_as_upper_bound() -> None:
    pool = next(i for i in estimate_cost(_resources(spot=True))["items"] if i.get("pool") == "a100blue")
    assert pool["spot"] is True
    assert "upper bound" in pool["note"]


def test_plan_cost_has_pools_and_model_lines(plan_documents: dict[str, dict[str, Any]]) -> None:
    cost = plan_documents["prod"]["cost"]
    pools = {i["pool"] for i in cost["items"] if i["kind"] == "nodePool"}
    assert {"system", "h100blue", "a100green"} <= pools
    line = next(m for m in cost["models"] if m["name"] == "chat-70b")
    # 2 replicas x 1 H100 NVL (NC40ads_H100_v5, 1 GPU/VM, 6.98 USD/h) x 730 h = 10190.80
    assert line["monthlyUsd"] == pytest.approx(10190.8)
    assert cost["prices"]["asOf"]
    assert cost["prices"]["source"].startswith("Azure Retail Prices API")


def test_expected_cost_runs_the_pools_the_models_need(plan_documents) -> None:
    cost = plan_documents["dev"]["cost"]
    pools = {i["pool"]: i for i in cost["items"] if i["kind"] == "nodePool"}
    # dev: both GPU pools scale from 0; research-3b (2 MIG slices) needs one A100 node, assistant one T4 node.
    assert (pools["a100blue"]["minCount"], pools["a100blue"]["expectedNodes"]) == (0, 1)
    assert (pools["t4blue"]["minCount"], pools["t4blue"]["expectedNodes"]) == (0, 1)
    assert pools["system"]["expectedNodes"] == pools["system"]["minCount"] == 2
    a100 = pools["a100blue"]
    assert a100["expectedMonthlyUsd"] == round(a100["hourlyUsd"] * 1 * 730, 2)
    assert cost["expectedMonthlyUsd"] == round(sum(i["expectedMonthlyUsd"] for i in cost["items"]), 2)
    assert cost["monthlyUsd"] < cost["modelsMonthlyUsd"] <= cost["expectedMonthlyUsd"] <= cost["maxMonthlyUsd"]
    for document in plan_documents.values():
        total = document["cost"]
        assert total["monthlyUsd"] <= total["expectedMonthlyUsd"] <= total["maxMonthlyUsd"]
