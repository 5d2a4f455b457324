"""The in-cluster half of the shared weight cache: what model serving registers so that each checkpoint is
downloaded once per cluster, not once per pod.

For the models of one cluster whose ``clusters.<c>.weightCache`` is on (components/weight_cache/ builds the
storage account, private endpoint and identities with the cluster), :class:`ModelWeightCache` registers:

- the cache namespace ``ai-platform-weights`` with a deny-all-ingress ``NetworkPolicy``, the writer's
  ``ServiceAccount`` and read-write ``PersistentVolume``/``PersistentVolumeClaim`` there, and a copy of each
  Hugging Face token Secret the fills need;
- per team namespace serving cached models, the reader's service account, read-only volume and claim;
- the identities' ``FederatedIdentityCredential``s (issuer: the cluster's OIDC issuer; subject: those service
  accounts), created one after another: Azure refuses concurrent credential writes under one identity
  (learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations);
- one fill ``Job`` per checkpoint (:func:`fill_plan`), on the pool of the first model using it, awaited by
  Pulumi until it completes (``custom_timeouts`` from components/serving/timing.py ``fill_timeouts``).

:attr:`ModelWeightCache.model_dependencies` tells :class:`components.serving.workload.ModelServing` what each
cached model's Deployment waits for: its checkpoint's fill Job and its namespace's read-only claim.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_azure_native as azure_native
import pulumi_kubernetes as k8s

from components._common import TYPE_PREFIX, Issue
from components.facts import LABEL_COLOUR, LABEL_GROUP
from components.serving import timing
from components.serving.fit import Fit
from components.serving.spec import ModelDeploymentSpec
from components.serving.workload import download_gib, token_secret_name
from components.weight_cache import (
    CACHE_NAMESPACE,
    FIC_AUDIENCE,
    MAX_FEDERATED_CREDENTIALS,
    READER_SERVICE_ACCOUNT,
    WRITER_SERVICE_ACCOUNT,
    CacheLocation,
    FillSpec,
    WeightCacheHandle,
    capacity_gib,
    fill_job,
    namespace,
    namespace_objects,
)


def cache_issues(models: Mapping[str, ModelDeploymentSpec], cached_clusters: frozenset[str]) -> list[Issue]:
    """More team namespaces reading one cluster's cache than its reader identity can trust (20 federated
    credentials per identity)."""
    issues: list[Issue] = []
    for cluster in sorted(cached_clusters):
        teams = sorted({m.team for m in models.values() if m.cluster == cluster})
        if len(teams) > MAX_FEDERATED_CREDENTIALS:
            issues.append(
                Issue(
                    ("clusters", cluster, "weightCache", "enabled"),
                    f"{len(teams)} team namespaces serve models from this cluster's weight cache; its reader identity "
                    f"takes at most {MAX_FEDERATED_CREDENTIALS} federated credentials",
                    True,
                    f"at most {MAX_FEDERATED_CREDENTIALS} teams with models on the cluster",
                    "move some teams' models to another cluster, or switch the cache off here",
                )
            )
    return issues


SECRET_LABELS = {"app.kubernetes.io/name": "weight-cache", "app.kubernetes.io/managed-by": "pulumi"}


def fill_plan(fits: list[Fit]) -> dict[str, FillSpec]:
    """One fill per checkpoint repository among ``fits`` (one cluster's cached models), keyed by repository.

    The fill runs on the chosen pool (active colour) of the first model, by name, that serves the checkpoint,
    with that model's image; it reads the token of any model that has one (a gated checkpoint's models all do).
    """
    plan: dict[str, FillSpec] = {}
    for fit in sorted(fits, key=lambda f: f.name):
        chosen, spec = fit.chosen, fit.spec
        assert chosen is not None
        repo = spec.effective_source
        known = plan.get(repo)
        if known is not None:
            token = known.token_secret or (token_secret_name(spec.token_key) if spec.token_key else None)
            plan[repo] = dataclasses.replace(known, token_secret=token, owners=[*known.owners, fit.name])
            continue
        plan[repo] = FillSpec(
            repo=repo,
            namespace=CACHE_NAMESPACE,
            image=spec.image,
            gib=download_gib(spec),
            node_selector={LABEL_GROUP: chosen.slot.pool_id, LABEL_COLOUR: chosen.slot.colour},
            tolerations=chosen.slot.workload_tolerations(),
            token_secret=token_secret_name(spec.token_key) if spec.token_key else None,
            owners=[fit.name],
        )
    return plan


def cache_capacity_gib(fits: list[Fit]) -> int:
    """What the cluster's cache holds once filled (every planned checkpoint, with margin)."""
    return capacity_gib([fill.gib for fill in fill_plan(fits).values()])


def location(cache: WeightCacheHandle) -> CacheLocation:
    return CacheLocation(
        resource_group=cache.resource_group_name,
        account=cache.account_name,
        container=cache.container,
        reader_client_id=cache.reader.client_id,
        writer_client_id=cache.writer.client_id,
    )


def deny_ingress_policy() -> dict[str, Any]:
    """Nothing talks to fill Jobs: the cache namespace admits no ingress (egress to the Hub stays open)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny-ingress", "namespace": CACHE_NAMESPACE},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


@dataclass(frozen=True)
class ModelWeightCacheArgs:
    fits: list[Fit]
    """This cluster's placed model deployments (all cached: the cluster's cache is on)."""
    cache: WeightCacheHandle
    oidc_issuer_url: pulumi.Input[str]
    provider: k8s.Provider
    namespaces: dict[str, pulumi.Resource] = field(default_factory=dict)
    """Team namespace resources: the read-only claims wait for their namespace."""
    pools: dict[str, pulumi.Resource] = field(default_factory=dict)
    """AgentPool per pool name: a fill Job waits for the pool it runs on (as the Deployments do)."""
    hf_tokens: dict[str, pulumi.Output[str]] = field(default_factory=dict)


class ModelWeightCache(pulumi.ComponentResource):
    """One cluster's fill Jobs and the volumes, claims and identities' credentials they and the models use."""

    fills: dict[str, pulumi.Resource]
    """Repository -> its fill Job."""
    model_dependencies: dict[str, list[pulumi.Resource]]
    """Model deployment -> what its Deployment waits for (fill Job, read-only claim, reader credential)."""

    def __init__(self, name: str, args: ModelWeightCacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:ModelWeightCache", name, None, opts)
        where = location(args.cache)
        capacity = cache_capacity_gib(args.fits)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        ns_obj = namespace()
        cache_ns = k8s.core.v1.Namespace(f"{name}-namespace", metadata=ns_obj["metadata"], opts=k8s_opts)
        in_cache_ns = pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=[cache_ns]))
        policy = deny_ingress_policy()
        k8s.networking.v1.NetworkPolicy(
            f"{name}-deny-ingress", metadata=policy["metadata"], spec=policy["spec"], opts=in_cache_ns
        )

        # Federated credentials, one identity's at a time (Azure refuses concurrent writes under one identity).
        credential_chain: dict[str, pulumi.Resource | None] = {"reader": None, "writer": None}

        def credential(role: str, ns: str, account: str) -> pulumi.Resource:
            identity = args.cache.writer if role == "writer" else args.cache.reader
            previous = credential_chain[role]
            fic = azure_native.managedidentity.FederatedIdentityCredential(
                f"{name}-{role}-{ns}",
                resource_group_name=args.cache.resource_group_name,
                resource_name_=identity.name,
                federated_identity_credential_resource_name=f"{ns}-{account}",
                issuer=args.oidc_issuer_url,
                subject=f"system:serviceaccount:{ns}:{account}",
                audiences=[FIC_AUDIENCE],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[previous] if previous else []),
            )
            credential_chain[role] = fic
            return fic

        def volumes(ns: str, after: list[pulumi.Resource]) -> list[pulumi.Resource]:
            """The namespace's service account, volume and claim (the claim binds to the pre-bound volume)."""
            sa, pv, pvc = namespace_objects(where, ns, capacity)
            ns_opts = pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=after))
            role = "writer" if ns == CACHE_NAMESPACE else "reader"
            account = k8s.core.v1.ServiceAccount(
                f"{name}-{ns}-{role}-sa",
                metadata=sa["metadata"],
                automount_service_account_token=False,
                opts=ns_opts,
            )
            volume = k8s.core.v1.PersistentVolume(
                f"{name}-{ns}-{role}-pv",
                metadata=pv["metadata"],
                spec=pv["spec"],
                opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=args.cache.ready)),
            )
            claim = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-{ns}-{role}-pvc",
                metadata=pvc["metadata"],
                spec=pvc["spec"],
                # Static binding: the claim is Bound as soon as its volume exists (no provisioner to wait for).
                opts=pulumi.ResourceOptions.merge(ns_opts, pulumi.ResourceOptions(depends_on=[volume])),
            )
            fic = credential(role, ns, WRITER_SERVICE_ACCOUNT if role == "writer" else READER_SERVICE_ACCOUNT)
            return [account, volume, claim, fic]

        writer = volumes(CACHE_NAMESPACE, [cache_ns])
        secrets: dict[str, pulumi.Resource] = {}
        plan = fill_plan(args.fits)
        self.fills = {}
        for repo, fill in plan.items():
            deps = [*writer, *args.cache.ready]
            if fill.token_secret:
                key = next(
                    f.spec.token_key
                    for f in args.fits
                    if f.spec.token_key and token_secret_name(f.spec.token_key) == fill.token_secret
                )
                assert key is not None
                if key not in secrets:
                    secrets[key] = k8s.core.v1.Secret(
                        f"{name}-{token_secret_name(key)}",
                        metadata={
                            "name": token_secret_name(key),
                            "namespace": CACHE_NAMESPACE,
                            "labels": {
                                "app.kubernetes.io/name": "weight-cache",
                                "app.kubernetes.io/managed-by": "pulumi",
                            },
                        },
                        type="Opaque",
                        string_data={"token": args.hf_tokens[key]},  # a secret Output (Config.get_secret)
                        opts=in_cache_ns,
                    )
                deps.append(secrets[key])
            owner = next(f for f in args.fits if f.name == fill.owners[0])
            assert owner.chosen is not None
            pool = args.pools.get(owner.chosen.slot.pool_name)
            if pool is not None:
                deps.append(pool)  # the Job's pod needs a node of this pool: await only once the pool exists
            job = fill_job(fill)
            self.fills[repo] = k8s.batch.v1.Job(
                f"{name}-{job['metadata']['name']}",
                metadata=job["metadata"],
                spec=job["spec"],
                opts=pulumi.ResourceOptions.merge(
                    k8s_opts,
                    pulumi.ResourceOptions(
                        depends_on=deps,
                        custom_timeouts=pulumi.CustomTimeouts(**timing.fill_timeouts(fill.gib, fill.image)),
                    ),
                ),
            )
        readers: dict[str, list[pulumi.Resource]] = {}
        for team_ns in sorted({f.spec.team for f in args.fits}):
            after = [args.namespaces[team_ns]] if team_ns in args.namespaces else []
            readers[team_ns] = volumes(team_ns, after)
        self.model_dependencies = {
            fit.name: [self.fills[fit.spec.effective_source], *readers[fit.spec.team]] for fit in args.fits
        }
        self.register_outputs({"checkpoints": sorted(plan), "capacityGiB": capacity})
