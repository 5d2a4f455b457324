"""Strict validation of Kubernetes objects against the official OpenAPI schemas of a cluster version.

Uses the schemas bundled with ``kubernetes-validate`` (no network). ``strict`` rejects unknown fields, so a
misspelt key fails a test instead of being silently dropped by the API server.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

CUSTOM_RESOURCE_GROUPS = ("cilium.io/", "kaito.sh/", "kyverno.io/", "ray.io/")
"""API groups of custom resources the blueprint creates: not in kubernetes-validate's schemas. Each is validated
against its published CRD schema in tests/fixtures/ (KAITO and KubeRay through :func:`validate_custom`; Cilium and
Kyverno by their tests)."""


def validate_strict(obj: dict[str, Any], kubernetes_version: str) -> None:
    """Raise ``kubernetes_validate.ValidationError`` if ``obj`` is not valid for ``kubernetes_version``."""
    kubernetes_validate.validate(obj, kubernetes_version, strict=True)


def k8s_objects(plan_document: dict[str, Any], kind: str | None = None) -> list[dict[str, Any]]:
    """Kubernetes objects (inputs of ``kubernetes:*`` custom resources, except Helm releases) from a plan.

    Objects of :data:`CUSTOM_RESOURCE_GROUPS` are only returned when asked for by ``kind``.
    """
    objects = []
    for resource in plan_document["resources"]:
        type_ = resource["type"]
        if not resource["custom"] or not type_.startswith("kubernetes:") or type_.startswith("kubernetes:helm"):
            continue
        obj = resource["inputs"]
        if kind is None and str(obj.get("apiVersion", "")).startswith(CUSTOM_RESOURCE_GROUPS):
            continue
        if obj.get("kind") == "Secret":
            # A Secret's data/stringData holding a secret Output reaches the engine as one secret value: the plan
            # shows "[secret]" for the whole map, whose contents are unknowable offline.
            obj = {k: v for k, v in obj.items() if not (k in ("data", "stringData") and v == "[secret]")}
        if kind is None or obj.get("kind") == kind:
            objects.append(obj)
    return objects


FIXTURES = Path(__file__).resolve().parent / "fixtures"
CRD_FILES = {
    # (apiVersion, kind) -> the published CRD at the pinned version (tests/fixtures/<runtime>/README.md).
    ("kaito.sh/v1beta1", "Workspace"): FIXTURES / "kaito" / "kaito.sh_workspaces-v0.6.0.yaml",
    ("ray.io/v1", "RayService"): FIXTURES / "kuberay" / "ray.io_rayservices-v1.7.0.yaml",
}


def strict_schema(schema: Any) -> Any:
    """The CRD's structural schema with unknown fields refused (``additionalProperties: false`` wherever an
    object lists its properties and neither preserves unknown fields nor maps), like ``validate_strict``: the API
    server would silently prune a misspelt key."""
    if isinstance(schema, list):
        return [strict_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict_schema(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """A strict validator for ``kind`` at ``api_version`` from the published CRD (the version it serves)."""
    group, version = api_version.split("/")
    with CRD_FILES[(api_version, kind)].open(encoding="utf-8") as handle:
        crd = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert crd["spec"]["group"] == group
    assert crd["spec"]["names"]["kind"] == kind
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    schema = strict_schema(served["schema"]["openAPIV3Schema"])
    return jsonschema.Draft7Validator(schema)


def validate_custom(obj: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` if a KAITO or KubeRay object is not valid against its CRD schema."""
    validator = crd_validator(obj["apiVersion"], obj["kind"])
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is not None:
        raise error
