"""Monthly cost of a plan: node pools at their minimum and maximum size, AKS control-plane tiers.

The price table is a data file (``components/data/prices.yaml``: VM size -> hourly USD per region, each
price naming its published source under ``priceSources``), overridable per stack under ``pricing``. A month
is 730 hours. Every priced cost line carries ``priceSource`` (a source id, or ``stack:pricing`` for a stack
override). :func:`estimate_cost` is a pure function over plan resource dicts (``type``, ``urn``, ``name``,
``inputs``, ``dependencies``), so the offline plan, the fit table and the policy pack's budget guard all
compute the same numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field

from components._common import Spec

PRICES_FILE = Path(__file__).resolve().parent / "data" / "prices.yaml"
AGENT_POOL = "azure-native:containerservice:AgentPool"
MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"

HourlyPrice = Annotated[float, Field(ge=0, le=10_000)]
"""USD per hour; the costliest Azure VM sizes list well under 1,000 USD/h, so 10,000 only catches typos (and keeps
every monthly figure finite: a price near 1e308 times 730 hours would overflow to infinity)."""


class PricingSpec(Spec):
    """``pricing`` in stack config: prices that replace or extend the shipped table."""

    vm_sizes: dict[str, dict[str, HourlyPrice]] = Field(default_factory=dict)
    """``<vmSize>: {<region>: <hourly USD>}``, e.g. your negotiated or regional prices."""
    fallback_region: str | None = None
    """Region whose price stands in for regions the table does not list."""
    cluster_tiers: dict[str, HourlyPrice] = Field(default_factory=dict)
    as_of: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class PriceTable:
    vm_sizes: dict[str, dict[str, float]]
    cluster_tiers: dict[str, float]
    fallback_region: str
    hours_per_month: float
    as_of: str
    source: str
    overridden: list[str] = field(default_factory=list)
    price_sources: dict[str, dict[str, str]] = field(default_factory=dict)
    """``<vmSize>: {<region>: <source id>}``: where each price in ``vm_sizes`` came from."""
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``<source id>: {title, url, retrieved}``."""

    def hourly(self, vm_size: str, region: str) -> tuple[float | None, str | None]:
        """(hourly USD, the region the price is for); ``(None, None)`` when the size is not priced."""
        by_region = self._sizes_ci().get(vm_size.lower())
        if not by_region:
            return None, None
        if region in by_region:
            return by_region[region], region
        if self.fallback_region in by_region:
            return by_region[self.fallback_region], self.fallback_region
        return None, None

    def _sizes_ci(self) -> dict[str, dict[str, float]]:
        return {k.lower(): v for k, v in self.vm_sizes.items()}

    def source_of(self, vm_size: str, region: str | None) -> str | None:
        """The source id of the price :meth:`hourly` uses for ``vm_size`` in ``region`` (its price region)."""
        if region is None:
            return None
        by_region = {k.lower(): v for k, v in self.price_sources.items()}.get(vm_size.lower(), {})
        return by_region.get(region)

    def meta(self) -> dict[str, Any]:
        return {
            "asOf": self.as_of,
            "source": self.source,
            "hoursPerMonth": self.hours_per_month,
            "fallbackRegion": self.fallback_region,
            "overriddenBy": self.overridden,
            "sources": self.sources,
        }


OVERRIDE_SOURCE = "stack:pricing"


def check_provenance(data: Mapping[str, Any]) -> list[str]:
    """Problems with a price table's provenance: a price without a source, or a source id not described."""
    problems: list[str] = []
    described = set((data.get("sources") or {}).keys())
    recorded = data.get("priceSources") or {}
    for size, regions in (data.get("vmSizes") or {}).items():
        for region in regions:
            source = (recorded.get(size) or {}).get(region)
            if source is None:
                problems.append(f"vmSizes.{size}.{region}: no priceSources entry")
            elif source not in described:
                problems.append(f"priceSources.{size}.{region}: source {source!r} not described under sources")
    for size, regions in recorded.items():
        for region in regions:
            if region not in ((data.get("vmSizes") or {}).get(size) or {}):
                problems.append(f"priceSources.{size}.{region}: no price in vmSizes")
    return problems


@functools.cache
def _shipped() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(PRICES_FILE.read_text())
    problems = check_provenance(data)
    if problems:
        raise ValueError(f"{PRICES_FILE}: every price must name its source: " + "; ".join(problems))
    return data


def price_table(override: PricingSpec | None = None) -> PriceTable:
    """The shipped table with a stack's ``pricing`` override applied on top (per size and region)."""
    data = _shipped()
    sizes = {k: dict(v) for k, v in data["vmSizes"].items()}
    price_sources = {k: dict(v) for k, v in (data.get("priceSources") or {}).items()}
    tiers = dict(data["clusterTiers"])
    overridden: list[str] = []
    fallback = data["fallbackRegion"]
    as_of, source = str(data["asOf"]), str(data["source"])
    if override is not None:
        for size, regions in override.vm_sizes.items():
            key = next((k for k in sizes if k.lower() == size.lower()), size)
            sizes.setdefault(key, {}).update(regions)
            price_sources.setdefault(key, {}).update(dict.fromkeys(regions, OVERRIDE_SOURCE))
            overridden.extend(f"{key}@{r}" for r in regions)
        tiers.update(override.cluster_tiers)
        overridden.extend(f"tier:{t}" for t in override.cluster_tiers)
        fallback = override.fallback_region or fallback
        as_of = override.as_of or as_of
        source = override.source or source
    return PriceTable(
        sizes,
        tiers,
        fallback,
        float(data["hoursPerMonth"]),
        as_of,
        source,
        overridden,
        price_sources,
        dict(data.get("sources") or {}),
    )


def _inputs(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    found = resource.get("inputs")
    if found is None:
        found = resource.get("props")
    return found or {}


def _pool_item(
    *,
    cluster: str,
    pool: str,
    vm_size: str,
    region: str,
    min_count: int,
    max_count: int,
    spot: bool,
    table: PriceTable,
) -> dict[str, Any]:
    hourly, price_region = table.hourly(vm_size, region)
    months = table.hours_per_month
    item: dict[str, Any] = {
        "kind": "nodePool",
        "cluster": cluster,
        "pool": pool,
        "vmSize": vm_size,
        "region": region,
        "minCount": min_count,
        "maxCount": max_count,
        "spot": spot,
        "hourlyUsd": hourly,
        "priceRegion": price_region,
        "priceSource": table.source_of(vm_size, price_region),
        "regionFallback": price_region is not None and price_region != region,
        "priced": hourly is not None,
        "baselineMonthlyUsd": round((hourly or 0.0) * min_count * months, 2),
        "maxMonthlyUsd": round((hourly or 0.0) * max_count * months, 2),
    }
    if spot and hourly is not None:
        item["note"] = "spot pool priced at pay-as-you-go (upper bound)"
    if hourly is None:
        item["note"] = f"no price for {vm_size}: add it under pricing.vmSizes"
    return item


def _pool_line(cluster: str, pool: str, inputs: Mapping[str, Any], region: str, table: PriceTable) -> dict[str, Any]:
    """The cost line of one pool, inline (``agentPoolProfiles[]``) or an ``AgentPool`` (same property names)."""
    return _pool_item(
        cluster=cluster,
        pool=pool,
        vm_size=str(inputs.get("vmSize")),
        region=region,
        min_count=int(inputs.get("minCount") or inputs.get("count") or 0),
        max_count=int(inputs.get("maxCount") or inputs.get("count") or 0),
        spot=inputs.get("scaleSetPriority") == "Spot",
        table=table,
    )


def estimate_cost(resources: Iterable[Mapping[str, Any]], table: PriceTable | None = None) -> dict[str, Any]:
    """Monthly cost of the node pools and cluster tiers in ``resources`` (plan resource dicts).

    A pool's region is its cluster's ``location``: the ManagedCluster among the pool's ``dependencies``.
    ``monthlyUsd`` is the baseline (every pool at ``minCount``); ``maxMonthlyUsd`` every pool at
    ``maxCount``. Pools of sizes the table does not price are listed with ``priced: false`` and count 0.
    """
    table = table or price_table()
    resources = list(resources)
    clusters = {r.get("urn"): r for r in resources if r.get("type") == MANAGED_CLUSTER}
    items: list[dict[str, Any]] = []
    for urn, cluster in clusters.items():
        inputs = _inputs(cluster)
        region = str(inputs.get("location") or "")
        name = str(cluster.get("name") or urn)
        tier = str((inputs.get("sku") or {}).get("tier") or "Free")
        tier_hourly = table.cluster_tiers.get(tier)
        items.append(
            {
                "kind": "clusterTier",
                "cluster": name,
                "tier": tier,
                "region": region,
                "hourlyUsd": tier_hourly,
                "priced": tier_hourly is not None,
                "baselineMonthlyUsd": round((tier_hourly or 0.0) * table.hours_per_month, 2),
                "maxMonthlyUsd": round((tier_hourly or 0.0) * table.hours_per_month, 2),
            }
        )
        items.extend(
            _pool_line(name, str(profile.get("name")), profile, region, table)
            for profile in inputs.get("agentPoolProfiles") or []
        )
    for resource in resources:
        if resource.get("type") != AGENT_POOL:
            continue
        inputs = _inputs(resource)
        owner: Mapping[str, Any] | None = next(
            (clusters[d] for d in resource.get("dependencies") or [] if d in clusters), None
        )
        region = str(_inputs(owner).get("location") or "") if owner else ""
        pool = str(inputs.get("agentPoolName") or resource.get("name"))
        items.append(_pool_line(str(owner.get("name")) if owner else "", pool, inputs, region, table))
    return {
        "monthlyUsd": round(sum(i["baselineMonthlyUsd"] for i in items), 2),
        "maxMonthlyUsd": round(sum(i["maxMonthlyUsd"] for i in items), 2),
        "currency": "USD",
        "prices": table.meta(),
        "unpriced": sorted({i["vmSize"] for i in items if i["kind"] == "nodePool" and not i["priced"]}),
        "items": items,
    }
