"""The shared weight cache (clusters.<c>.weightCache, components/weight_cache/, components/serving/cache.py):
off by default and in dev/staging, on in prod; the Azure side is locked down; the Kubernetes objects are valid
against the official schemas; each checkpoint is filled once per cluster and model pods mount it read-only; the
rehearsal counts one download per checkpoint; the policy pack refuses a storage account that is not locked down."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components._common import ConfigError
from components.facts import BUILTIN_ROLES
from components.serving import analyse
from components.serving.cache import cache_issues, deny_ingress_policy, fill_plan
from components.serving.spec import ModelDeploymentSpec
from components.weight_cache import (
    CACHE_LABEL,
    CacheLocation,
    FillSpec,
    account_name,
    capacity_gib,
    checkpoint_dir,
    fill_job,
    fill_job_name,
    model_path,
    namespace,
    namespace_objects,
)
from components.weight_cache.objects import FILL_SCRIPT, MARKER
from policies.engine import Resource, evaluate
from policies.rules import RULES_BY_ID
from stacks.config import load_config
from stacks.plan import read_stack_file, run_plan
from stacks.rehearsal import rehearse
from tests.conftest import ROOT
from tests.k8s_schema import validate_strict

STORAGE = "azure-native:storage:StorageAccount"
JOB = "kubernetes:batch/v1:Job"
FIC = "azure-native:managedidentity:FederatedIdentityCredential"
CHECKPOINT_70B = "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic"
CHECKPOINT_3B = "RedHatAI/Llama-3.2-3B-Instruct-FP8-dynamic"
WHERE = CacheLocation("rg-aiplat-prod-weu1", "staiplatprodweu1wc", "weights", "client-r", "client-w")


def _stack_variant(tmp: Path, name: str, edit: Any) -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    edit(document["config"])
    path = tmp / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return run_plan("prod", path).to_json()


def _shared_checkpoint(config: dict[str, Any]) -> None:
    # Two inference models share the 70B FP8 checkpoint; research serves a 3B on MIG slices: two checkpoints,
    # two team namespaces reading the cache.
    models = config["ai-platform:models"]
    # The multi-node KubeRay model downloads for itself (no cache) and holds 4 of the team's 8 h100 devices.
    models.pop("qwen-72b")
    models["chat-70b-b"] = {**models["chat-70b"], "replicas": 1}
    models["small"] = {
        "team": "research",
        "cluster": "weu1",
        "model": "llama-3.2-3b-instruct",
        "precision": "fp8",
        "contextLength": 8192,
        "concurrency": 3,
    }


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _stack_variant(tmp_path_factory.mktemp("shared"), "prod", _shared_checkpoint)


@pytest.fixture(scope="module")
def uncached(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    def off(config: dict[str, Any]) -> None:
        config["ai-platform:clusters"]["weu1"].pop("weightCache")

    return _stack_variant(tmp_path_factory.mktemp("uncached"), "prod", off)


def _of(document: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in document["resources"] if r["type"] == type_]


def _fills(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The weight-cache fill Jobs (other components run Jobs too: the Grafana dashboards)."""
    return [r for r in _of(document, JOB) if "-weights-fill-" in r["name"]]


def _named(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in document["resources"] if r["name"] == name)


def _with_cache(stack: str, value: Any) -> tuple[dict[str, str], str]:
    stack_file = read_stack_file(stack)
    config_map = dict(stack_file.config_map)
    clusters = json.loads(config_map["ai-platform:clusters"])
    clusters["weu1"]["weightCache"] = value
    config_map["ai-platform:clusters"] = json.dumps(clusters)
    return config_map, stack_file.source


# --- configuration ------------------------------------------------------------------------------------


def test_off_by_default_and_in_dev_and_staging_on_in_prod(plan_documents: dict[str, dict[str, Any]]) -> None:
    for stack in ("dev", "staging"):
        document = plan_documents[stack]
        assert not _of(document, STORAGE), stack
        assert not _fills(document), stack
        for cluster in _of(document, "azure-native:containerservice:ManagedCluster"):
            assert "storageProfile" not in cluster["inputs"], stack
    prod = plan_documents["prod"]
    (account,) = _of(prod, STORAGE)
    assert account["inputs"]["accountName"] == "staiplatprodweu1wc"
    clusters = {c["name"]: c["inputs"] for c in _of(prod, "azure-native:containerservice:ManagedCluster")}
    assert clusters["weu1-aks"]["storageProfile"] == {"blobCSIDriver": {"enabled": True}}
    assert "storageProfile" not in clusters["neu1-aks"]  # neu1 serves no model: no cache there


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"enabled": True, "size": 100},
            "Pulumi.prod.yaml: ai-platform:clusters.weu1.weightCache.size: unknown key (got 'size'; allowed: "
            "enabled, sku)",
        ),
        (
            {"enabled": True, "sku": "Premium_GRS"},
            "Pulumi.prod.yaml: ai-platform:clusters.weu1.weightCache.sku: is not an allowed value (got 'Premium_GRS'; "
            "allowed: 'Premium_LRS', 'Premium_ZRS', 'Standard_LRS' or 'Standard_ZRS')",
        ),
    ],
)
def test_bad_cache_settings_are_one_line_naming_the_key(value: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(*_with_cache("prod", value))
    (line,) = caught.value.lines
    assert line.startswith(expected), line


def test_bad_cache_setting_exits_2_with_one_line_and_nothing_on_stdout(tmp_path: Path) -> None:
    document = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    document["config"]["ai-platform:clusters"]["weu1"]["weightCache"] = {"enabled": "sometimes"}
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(document))
    done = subprocess.run(
        [sys.executable, "-m", "stacks", "plan", "prod", "--config-file", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert "ai-platform:clusters.weu1.weightCache.enabled" in line
    assert "Traceback" not in done.stderr


# --- the Azure side -----------------------------------------------------------------------------------


def test_exact_children_of_both_halves(plan_documents: dict[str, dict[str, Any]]) -> None:
    resources = plan_documents["prod"]["resources"]
    by_urn = {r["urn"]: r for r in resources}

    def children(component: str) -> set[str]:
        (parent,) = [r["urn"] for r in resources if r["type"] == component]
        return {f"{r['type'].rsplit(':', 1)[-1]} {r['name']}" for r in resources if r.get("parent") == parent}

    assert children("aiplatform:index:WeightCacheStorage") == {
        "StorageAccount weu1-weight-cache-account",
        "BlobContainer weu1-weight-cache-container",
        "PrivateZone weu1-weight-cache-dns",
        "VirtualNetworkLink weu1-weight-cache-dns-link",
        "PrivateEndpoint weu1-weight-cache-endpoint",
        "PrivateDnsZoneGroup weu1-weight-cache-dns-group",
        "UserAssignedIdentity weu1-weight-cache-reader",
        "UserAssignedIdentity weu1-weight-cache-writer",
        "RoleAssignment weu1-weight-cache-reader-role",
        "RoleAssignment weu1-weight-cache-writer-role",
    }
    (storage,) = [r for r in resources if r["type"] == "aiplatform:index:WeightCacheStorage"]
    assert by_urn[storage["parent"]]["name"] == "weu1"  # a part of the AksCluster
    assert children("aiplatform:index:ModelWeightCache") == {
        "Namespace weu1-weights-namespace",
        "NetworkPolicy weu1-weights-deny-ingress",
        "ServiceAccount weu1-weights-ai-platform-weights-writer-sa",
        "PersistentVolume weu1-weights-ai-platform-weights-writer-pv",
        "PersistentVolumeClaim weu1-weights-ai-platform-weights-writer-pvc",
        "FederatedIdentityCredential weu1-weights-writer-ai-platform-weights",
        "ServiceAccount weu1-weights-inference-reader-sa",
        "PersistentVolume weu1-weights-inference-reader-pv",
        "PersistentVolumeClaim weu1-weights-inference-reader-pvc",
        "FederatedIdentityCredential weu1-weights-reader-inference",
        "Secret weu1-weights-hf-token-huggingfacetoken",
        "Job weu1-weights-fill-redhatai--llama-3-3-70b-instruct-fp8-dynamic",
    }


def test_storage_account_is_private_keyless_and_tls12(plan_documents: dict[str, dict[str, Any]]) -> None:
    prod = plan_documents["prod"]
    (account,) = _of(prod, STORAGE)
    inputs = account["inputs"]
    assert inputs["publicNetworkAccess"] == "Disabled"
    assert inputs["networkRuleSet"] == {"defaultAction": "Deny", "bypass": "None"}
    assert inputs["allowSharedKeyAccess"] is False
    assert inputs["allowBlobPublicAccess"] is False
    assert inputs["enableHttpsTrafficOnly"] is True
    assert inputs["minimumTlsVersion"] == "TLS1_2"
    assert inputs["defaultToOAuthAuthentication"] is True
    assert (inputs["kind"], inputs["sku"]) == ("BlockBlobStorage", {"name": "Premium_LRS"})
    assert account["protect"] is True  # prod protects stateful resources (policy protect-stateful)
    (container,) = _of(prod, "azure-native:storage:BlobContainer")
    assert (container["inputs"]["containerName"], container["inputs"]["publicAccess"]) == ("weights", "None")


def test_private_endpoint_and_dns_reach_the_account_from_the_node_vnet(
    plan_documents: dict[str, dict[str, Any]],
) -> None:
    prod = plan_documents["prod"]
    (endpoint,) = _of(prod, "azure-native:network:PrivateEndpoint")
    (connection,) = endpoint["inputs"]["privateLinkServiceConnections"]
    assert connection["groupIds"] == ["blob"]
    (zone,) = _of(prod, "azure-native:privatedns:PrivateZone")
    assert (zone["inputs"]["privateZoneName"], zone["inputs"]["location"]) == (
        "privatelink.blob.core.windows.net",
        "global",
    )
    (link,) = _of(prod, "azure-native:privatedns:VirtualNetworkLink")
    assert link["inputs"]["registrationEnabled"] is False
    (group,) = _of(prod, "azure-native:network:PrivateDnsZoneGroup")
    assert group["inputs"]["privateDnsZoneConfigs"][0]["name"] == "blob"
    assert link["urn"] in group["dependencies"]


def test_reader_and_writer_identities_get_only_their_blob_roles(plan_documents: dict[str, dict[str, Any]]) -> None:
    prod = plan_documents["prod"]
    grants = {
        r["name"]: r["inputs"]
        for r in _of(prod, "azure-native:authorization:RoleAssignment")
        if r["name"].startswith("weu1-weight-cache")
    }
    assert set(grants) == {"weu1-weight-cache-reader-role", "weu1-weight-cache-writer-role"}
    reader, writer = grants["weu1-weight-cache-reader-role"], grants["weu1-weight-cache-writer-role"]
    assert reader["roleDefinitionId"].endswith(BUILTIN_ROLES["Storage Blob Data Reader"])
    assert writer["roleDefinitionId"].endswith(BUILTIN_ROLES["Storage Blob Data Contributor"])
    assert reader["principalType"] == writer["principalType"] == "ServicePrincipal"


def test_federated_credentials_name_the_service_accounts_one_at_a_time(shared: dict[str, Any]) -> None:
    fics = {r["name"]: r for r in _of(shared, FIC) if "-weights-" in r["name"]}
    subjects = {name: r["inputs"]["subject"] for name, r in fics.items()}
    assert subjects == {
        "weu1-weights-writer-ai-platform-weights": "system:serviceaccount:ai-platform-weights:weight-cache-fill",
        "weu1-weights-reader-inference": "system:serviceaccount:inference:weight-cache-reader",
        "weu1-weights-reader-research": "system:serviceaccount:research:weight-cache-reader",
    }
    assert all(r["inputs"]["audiences"] == ["api://AzureADTokenExchange"] for r in fics.values())
    # Azure refuses concurrent credential writes under one identity: the reader's second waits for its first.
    first, second = fics["weu1-weights-reader-inference"], fics["weu1-weights-reader-research"]
    assert first["urn"] in second["dependencies"]


# --- the Kubernetes objects ---------------------------------------------------------------------------


def _fill(repo: str = CHECKPOINT_70B, token: str | None = "hf-token-huggingfacetoken") -> FillSpec:
    return FillSpec(
        repo=repo,
        namespace="ai-platform-weights",
        image="vllm/vllm-openai:v0.12.0",
        gib=75.6,
        node_selector={"ai-platform/gpu-pool": "h100", "ai-platform/color": "blue"},
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}],
        token_secret=token,
    )


def test_objects_are_strictly_valid_kubernetes() -> None:
    objects = [
        namespace(),
        deny_ingress_policy(),
        *namespace_objects(WHERE, "ai-platform-weights", 84),
        *namespace_objects(WHERE, "inference", 84),
        fill_job(_fill()),
        fill_job(_fill(CHECKPOINT_3B, token=None)),
    ]
    for obj in objects:
        validate_strict(obj, "1.34")


def test_volumes_are_read_only_for_teams_and_writable_only_in_the_cache_namespace() -> None:
    sa, pv, pvc = namespace_objects(WHERE, "inference", 84)
    assert sa["metadata"] == {
        "name": "weight-cache-reader",
        "namespace": "inference",
        "labels": sa["metadata"]["labels"],
        "annotations": {"azure.workload.identity/client-id": "client-r"},
    }
    assert sa["automountServiceAccountToken"] is False
    assert pv["spec"]["accessModes"] == ["ReadOnlyMany"]
    assert pv["spec"]["csi"]["readOnly"] is True
    assert "--read-only=true" in pv["spec"]["mountOptions"]
    assert pv["spec"]["csi"]["volumeAttributes"] == {
        "protocol": "fuse2",
        "resourceGroup": "rg-aiplat-prod-weu1",
        "storageAccount": "staiplatprodweu1wc",
        "containerName": "weights",
        "clientID": "client-r",
        "mountWithWorkloadIdentityToken": "true",
    }
    assert pv["spec"]["claimRef"] == {"namespace": "inference", "name": "weight-cache"}
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]
    # The volume records the cache's size; the claim asks a fixed 1Gi (a static claim cannot be resized later).
    assert (pv["spec"]["capacity"], pvc["spec"]["resources"]) == ({"storage": "84Gi"}, {"requests": {"storage": "1Gi"}})
    _, wpv, wpvc = namespace_objects(WHERE, "ai-platform-weights", 84)
    assert wpv["spec"]["accessModes"] == ["ReadWriteMany"]
    assert wpv["spec"]["csi"]["readOnly"] is False
    assert wpv["spec"]["csi"]["volumeAttributes"]["clientID"] == "client-w"
    assert wpvc["metadata"]["name"] == "weight-cache-fill"
    # Every PV of the cluster has its own volumeHandle, as the driver requires.
    assert pv["spec"]["csi"]["volumeHandle"] != wpv["spec"]["csi"]["volumeHandle"]


def test_cache_namespace_enforces_the_restricted_pod_security_standard() -> None:
    assert namespace()["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    policy = deny_ingress_policy()
    assert policy["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_fill_job_runs_hardened_on_the_models_pool_with_the_writer() -> None:
    job = fill_job(_fill())
    assert job["metadata"]["name"] == "fill-redhatai--llama-3-3-70b-instruct-fp8-dynamic"
    assert job["metadata"]["labels"][CACHE_LABEL] == "fill"
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "weight-cache-fill"
    assert pod["automountServiceAccountToken"] is False
    assert pod["nodeSelector"] == {"ai-platform/gpu-pool": "h100", "ai-platform/color": "blue"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    env = {e["name"]: e for e in container["env"]}
    assert env["TARGET"]["value"] == "/weights/RedHatAI--Llama-3.3-70B-Instruct-FP8-dynamic"
    assert env["HF_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "hf-token-huggingfacetoken", "key": "token"}}
    assert "HF_TOKEN" not in {
        e["name"] for e in fill_job(_fill(token=None))["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert {"name": "weights", "persistentVolumeClaim": {"claimName": "weight-cache-fill"}} in pod["volumes"]


def test_names_fit_kubernetes_and_azure_limits() -> None:
    long_repo = "some-organisation-with-a-long-name/an-extremely-long-model-repository-name-v2.5-Instruct"
    name = fill_job_name(long_repo)
    assert len(name) <= 52
    assert name != fill_job_name(long_repo + "-b")
    assert checkpoint_dir("Qwen/Qwen2.5-7B-Instruct-AWQ") == "Qwen--Qwen2.5-7B-Instruct-AWQ"
    assert model_path("Qwen/Qwen2.5-7B-Instruct-AWQ") == "/weights/Qwen--Qwen2.5-7B-Instruct-AWQ"
    assert len(account_name("abcdefghij", "staging", "abcdefghij")) <= 24
    assert account_name("aiplat", "prod", "weu1").isalnum()
    assert capacity_gib([75.6, 3.7]) == 88  # (75.6 + 3.7) x 1.1 = 87.2 -> 88 GiB


def test_fill_script_downloads_once_and_resumes(tmp_path: Path) -> None:
    # The Job's script against a stand-in huggingface_hub that records its calls: the first run downloads and
    # writes the marker, the second exits without downloading.
    fake = tmp_path / "fake"
    (fake / "huggingface_hub").mkdir(parents=True)
    (fake / "huggingface_hub" / "__init__.py").write_text(
        "import json, os, pathlib\n"
        "def snapshot_download(repo_id, local_dir, max_workers):\n"
        "    log = pathlib.Path(os.environ['CALLS'])\n"
        "    log.write_text(log.read_text() + json.dumps([repo_id, local_dir, max_workers]) + '\\n')\n"
        "    (pathlib.Path(local_dir) / 'model.safetensors').write_text('w')\n"
    )
    calls = tmp_path / "calls.log"
    calls.write_text("")
    target = tmp_path / "weights" / "org--model"
    env = {"PYTHONPATH": str(fake), "CALLS": str(calls), "TARGET": str(target), "MARKER": MARKER}
    env.update({"REPO": "org/model", "WORKERS": "4", "PATH": "/usr/bin:/bin"})
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", FILL_SCRIPT], env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in calls.read_text().splitlines()] == [["org/model", str(target), 4]]
    assert (target / MARKER).read_text() == "org/model\n"
    assert "already cached" in done.stdout


# --- serving from the cache ---------------------------------------------------------------------------


def test_each_checkpoint_is_filled_once_per_cluster(shared: dict[str, Any]) -> None:
    jobs = {r["inputs"]["metadata"]["annotations"]["ai-platform/checkpoint"]: r for r in _fills(shared)}
    assert set(jobs) == {CHECKPOINT_70B, CHECKPOINT_3B}
    for model, repo in (("chat-70b", CHECKPOINT_70B), ("chat-70b-b", CHECKPOINT_70B), ("small", CHECKPOINT_3B)):
        deployment = _named(shared, f"weu1-models-{model}-deployment")
        assert jobs[repo]["urn"] in deployment["dependencies"], model  # Pulumi awaits the Job's completion first
        pod = deployment["inputs"]["spec"]["template"]["spec"]
        args = pod["containers"][0]["args"]
        assert args[args.index("--model") + 1] == model_path(repo)
        assert args[args.index("--served-model-name") + 1] == model
    # The 70B fill runs where chat-70b runs and waits for that pool; the 3B fill on the A100 MIG pool.
    pools = {r["urn"]: r["name"] for r in _of(shared, "azure-native:containerservice:AgentPool")}
    assert [pools[d] for d in jobs[CHECKPOINT_70B]["dependencies"] if d in pools] == ["weu1-gpu-h100blue"]
    assert [pools[d] for d in jobs[CHECKPOINT_3B]["dependencies"] if d in pools] == ["weu1-gpu-a100green"]


def test_model_pods_mount_the_cache_read_only_and_offline(plan_documents: dict[str, dict[str, Any]]) -> None:
    deployment = _named(plan_documents["prod"], "weu1-models-chat-70b-deployment")
    pod = deployment["inputs"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "weight-cache-reader"
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert {"name": "models", "mountPath": "/weights", "readOnly": True} in container["volumeMounts"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HF_HUB_OFFLINE"] == "1"
    assert "HF_TOKEN" not in env
    reader_claim = _named(plan_documents["prod"], "weu1-weights-inference-reader-pvc")
    assert reader_claim["urn"] in deployment["dependencies"]


def test_plan_objects_match_the_schema_once_unknown_ids_are_filled(plan_documents: dict[str, dict[str, Any]]) -> None:
    # The identities' client ids are unknown before deployment (null in the plan); everything else is final.
    kinds = {"PersistentVolume", "PersistentVolumeClaim", "ServiceAccount", "Job", "Namespace"}
    objects = [
        r["inputs"]
        for r in plan_documents["prod"]["resources"]
        if r["name"].startswith("weu1-weights-")
        and r["type"].startswith("kubernetes:")
        and r["inputs"].get("kind") in kinds
    ]
    assert {o["kind"] for o in objects} == kinds
    for obj in objects:
        text = json.dumps(obj).replace("null", '"00000000-0000-0000-0000-000000000000"')
        validate_strict(json.loads(text), "1.34")


def test_fill_plan_takes_the_first_model_and_any_token() -> None:
    stack_file = read_stack_file("prod")
    config_map = dict(stack_file.config_map)
    models = json.loads(config_map["ai-platform:models"])
    models.pop("qwen-72b")  # KubeRay downloads for itself; its 4 h100 devices would leave no quota for a-first
    models["a-first"] = {**models["chat-70b"], "replicas": 1}
    config_map["ai-platform:models"] = json.dumps(models)
    cfg = load_config(config_map, stack_file.source)
    serving, _ = analyse(cfg.serving)
    plan = fill_plan([f for f in serving.fits.values() if f.chosen is not None])
    (fill,) = plan.values()
    assert fill.owners == ["a-first", "chat-70b"]
    assert fill.token_secret == "hf-token-huggingfacetoken"  # gated Llama


# --- rehearsal ----------------------------------------------------------------------------------------


def test_rehearsal_counts_one_download_per_checkpoint(shared: dict[str, Any], uncached: dict[str, Any]) -> None:
    downloads = {row["checkpoint"]: row for row in shared["rehearsal"]["weightDownloads"]}
    assert {k: v["downloads"] for k, v in downloads.items()} == {CHECKPOINT_70B: 1, CHECKPOINT_3B: 1}
    assert downloads[CHECKPOINT_70B]["totalGiB"] == pytest.approx(75.6, abs=0.1)
    # Without the cache every pod downloads its own copy: chat-70b's two replicas, twice (and, cache or not,
    # each of qwen-72b's two pipeline stages its own 135 GiB: KubeRay's pods do not use the cache).
    rows = {row["checkpoint"]: row for row in uncached["rehearsal"]["weightDownloads"]}
    assert rows["Qwen/Qwen2.5-72B-Instruct"]["downloads"] == 2
    row = rows[CHECKPOINT_70B]
    assert (row["checkpoint"], row["downloads"], row["totalGiB"]) == (CHECKPOINT_70B, 2, pytest.approx(151.2, 0.1))
    # The model pods only load (400 MiB/s from the cache), after the fill downloaded once (200 MiB/s).
    timings = {w["name"]: w for w in shared["rehearsal"]["gpuWorkloads"]}
    chat = timings["weu1-models-chat-70b-deployment"]
    assert chat["phaseMinutes"]["weightDownload"] == 0
    assert chat["phaseMinutes"]["weightLoad"] == pytest.approx(75.6 * 1024 / 400 / 60, abs=0.05)
    fill = next(w for n, w in timings.items() if n.startswith("weu1-weights-fill-redhatai--llama-3-3"))
    assert fill["phaseMinutes"]["weightDownload"] == pytest.approx(75.6 * 1024 / 200 / 60, abs=0.05)
    assert chat["startMinute"] >= fill["readyMinute"]
    assert shared["rehearsal"]["findings"] == []


def test_fill_job_timeout_too_short_is_a_rehearsal_error(plan_documents: dict[str, dict[str, Any]]) -> None:
    resources = json.loads(json.dumps(plan_documents["prod"]["resources"]))
    (job,) = [r for r in resources if r["type"] == JOB and "-weights-fill-" in r["name"]]
    job["customTimeouts"] = {"create": "5m"}
    findings = rehearse(resources).findings
    assert [f.kind for f in findings if f.urn == job["urn"]] == ["awaitTimeout"]


# --- policy -------------------------------------------------------------------------------------------


def _account(plan: dict[str, Any]) -> dict[str, Any]:
    return dict(_of(plan, STORAGE)[0]["inputs"])


DELETE = object()


def _judge(rule: str, inputs: dict[str, Any]) -> list[Any]:
    resource = Resource("urn:pulumi:prod::ai-platform::x$" + STORAGE + "::acct", STORAGE, "acct", inputs)
    return evaluate([RULES_BY_ID[rule]], [resource], {rule: "mandatory"})


@pytest.mark.parametrize(
    ("rule", "prop", "bad", "unset_violates"),
    [
        ("storage-private", "publicNetworkAccess", "Enabled", True),
        ("storage-private", "allowBlobPublicAccess", True, False),
        ("storage-no-shared-key", "allowSharedKeyAccess", True, True),
        ("storage-secure-transfer", "enableHttpsTrafficOnly", False, False),
        ("storage-secure-transfer", "minimumTlsVersion", "TLS1_0", True),
    ],
)
def test_storage_rules_compliant_violating_unset_unknown(
    plan_documents: dict[str, dict[str, Any]], rule: str, prop: str, bad: Any, unset_violates: bool
) -> None:
    good = _account(plan_documents["prod"])
    assert _judge(rule, good) == []
    (violation,) = _judge(rule, {**good, prop: bad})
    assert violation.enforcement == "mandatory"
    assert prop in violation.message
    assert "expected" in violation.message
    assert "Fix:" in violation.message
    unset = {k: v for k, v in good.items() if k != prop}
    assert bool(_judge(rule, unset)) == unset_violates
    unknown = _judge(rule, {**good, prop: None})
    assert unknown
    assert all(v.enforcement == "advisory" for v in unknown)
    assert all("cannot verify" in v.message for v in unknown)


def test_public_blob_container_is_refused(plan_documents: dict[str, dict[str, Any]]) -> None:
    (container,) = _of(plan_documents["prod"], "azure-native:storage:BlobContainer")
    kind = "azure-native:storage:BlobContainer"
    ok = Resource("urn:pulumi:prod::ai-platform::" + kind + "::c", kind, "c", dict(container["inputs"]))
    bad = Resource(
        "urn:pulumi:prod::ai-platform::" + kind + "::d", kind, "d", {**container["inputs"], "publicAccess": "Blob"}
    )
    config = {"storage-private": "mandatory"}
    assert evaluate([RULES_BY_ID["storage-private"]], [ok], config) == []
    (violation,) = evaluate([RULES_BY_ID["storage-private"]], [bad], config)
    assert "publicAccess" in violation.message


def test_more_team_namespaces_than_federated_credentials_is_a_config_error() -> None:
    models = {
        f"m{i}": ModelDeploymentSpec.model_validate(
            {"team": f"team{i}", "cluster": "weu1", "model": "llama-3.2-3b-instruct"}
        )
        for i in range(21)
    }
    (issue,) = cache_issues(models, frozenset({"weu1"}))
    assert issue.path == ("clusters", "weu1", "weightCache", "enabled")
    assert "21 team namespaces" in issue.problem
    assert "at most 20" in issue.problem
    assert cache_issues(dict(list(models.items())[:20]), frozenset({"weu1"})) == []
    assert cache_issues(models, frozenset()) == []  # cache off: every pod downloads its own, no credentials
