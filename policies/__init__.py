"""The ai-platform CrossGuard policy pack and the rule engine behind it.

``policies/__main__.py`` is the pack's entry point under the Pulumi CLI (it starts the analyzer server and
is never imported). Everything else is importable: ``policies.rules`` (the rules), ``policies.engine``
(evaluation, waivers, unknown values), ``policies.pack_config`` (per-environment configuration) and
``policies.offline`` (evaluation of plan documents for ``python -m stacks plan`` and ``check``).
"""
