"""Strict validation of Kubernetes objects against the official OpenAPI schemas of a cluster version.

Uses the schemas bundled with ``kubernetes-validate`` (no network). ``strict`` rejects unknown fields, so a
misspelt key fails a test instead of being silently dropped by the API server.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate

CUSTOM_RESOURCE_GROUPS = ("cilium.io/", "kaito.sh/", "ray.io/")
"""API groups of custom resources the blueprint creates: not in kubernetes-validate's schemas. KAITO and KubeRay
objects are validated against their published CRD schemas (:func:`validate_custom`, tests/fixtures/<runtime>/);
Cilium's structure is asserted by its tests."""


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
