"""Storage behind the platform (the shared weight cache, components/weight_cache/): no public network path, no
shared keys, no anonymous blobs, TLS 1.2. Each rule judges one ``StorageAccount`` (or ``BlobContainer``) and
treats an unset property by its effective Azure default."""

from __future__ import annotations

from collections.abc import Iterator

from policies.engine import Finding, Resource, Rule, RuleContext
from policies.rules._util import expect

STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
BLOB_CONTAINER = "azure-native:storage:BlobContainer"
FIX = (
    "keep the weight cache's account as components/weight_cache/storage.py builds it (reached only through its "
    "private endpoint, Entra ID tokens only)"
)


def storage_private(r: Resource, _: RuleContext) -> Iterator[Finding]:
    if r.type == BLOB_CONTAINER:
        yield from expect(
            r,
            "publicAccess",
            lambda v: v == "None",
            "'None' (no anonymous access)",
            "remove publicAccess or set it to None",
            default="None",
        )
        return
    yield from expect(
        r,
        "publicNetworkAccess",
        lambda v: v == "Disabled",
        "'Disabled' (reached through its private endpoint only)",
        FIX,
        default_note="Enabled",
    )
    yield from expect(
        r,
        "allowBlobPublicAccess",
        lambda v: v is False,
        "false (no anonymous blob access)",
        FIX,
        default=False,
    )


def storage_no_shared_key(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(
        r,
        "allowSharedKeyAccess",
        lambda v: v is False,
        "false (every request authorized by Entra ID; no account keys to leak)",
        FIX,
        default_note="null, which Azure treats as true",
    )


def storage_secure_transfer(r: Resource, _: RuleContext) -> Iterator[Finding]:
    yield from expect(
        r,
        "enableHttpsTrafficOnly",
        lambda v: v is True,
        "true (HTTPS only)",
        FIX,
        default=True,
    )
    yield from expect(
        r,
        "minimumTlsVersion",
        lambda v: v in ("TLS1_2", "TLS1_3"),
        "'TLS1_2' or newer",
        "set minimumTlsVersion: TLS1_2",
        default_note="the API version's default, not guaranteed TLS1_2",
    )


RULES: list[Rule] = [
    Rule(
        "storage-private",
        "Storage accounts have no public network access and no anonymous blob access.",
        "high",
        "mandatory",
        storage_private,
        types=(STORAGE_ACCOUNT, BLOB_CONTAINER),
    ),
    Rule(
        "storage-no-shared-key",
        "Storage accounts refuse shared-key (account key and SAS) authorization.",
        "high",
        "mandatory",
        storage_no_shared_key,
        types=(STORAGE_ACCOUNT,),
    ),
    Rule(
        "storage-secure-transfer",
        "Storage accounts accept HTTPS only, with TLS 1.2 or newer.",
        "medium",
        "mandatory",
        storage_secure_transfer,
        types=(STORAGE_ACCOUNT,),
    ),
]
