"""Entry point of the ai-platform CrossGuard pack: ``pulumi preview --policy-pack policies``.

Constructs the PolicyPack (which starts the analyzer server and never returns); never import this file.
The rules live in importable modules beside it; the repository root is put on ``sys.path`` so the pack
reads the same ``components/`` tables (GPU sizes, prices) as the program.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.pack import PACK_NAME, build_policies

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=build_policies(),
)
