"""``ai-platform:policy`` in stack config: the stack's GPU budget and its waivers.

A waiver names the rule, the resource (URN or logical name), a reason and an expiry date. An expired
waiver no longer suppresses anything and is itself a violation (rule ``waiver-valid``); that is a policy
result, not a configuration error, so expired dates load fine here.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import Field, model_validator

from components._common import Issue, Spec, raise_issues
from policies.rules import RULES_BY_ID


class WaiverSpec(Spec):
    rule: Annotated[str, Field(pattern=r"^[a-z0-9-]+$")]
    resource: Annotated[str, Field(min_length=1)]
    """The resource's URN, or its logical name (e.g. ``weu1-aks``)."""
    reason: Annotated[str, Field(min_length=10)]
    expires: dt.date

    def to_json(self) -> dict[str, str]:
        return self.model_dump(mode="json", by_alias=True)


class PolicySpec(Spec):
    budget_monthly_usd: Annotated[float | None, Field(ge=0, le=1e9)] = None
    """Upper bound of the stack's estimated monthly GPU cost (USD); checked by rule ``gpu-budget``."""
    waivers: list[WaiverSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> PolicySpec:
        raise_issues(
            [
                Issue(
                    ("waivers", i, "rule"),
                    "is not a rule of the policy pack",
                    w.rule,
                    "a rule id from README 'Policy' (e.g. aks-local-accounts-disabled)",
                    "correct the rule id",
                )
                for i, w in enumerate(self.waivers)
                if w.rule not in RULES_BY_ID
            ]
        )
        return self

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)
