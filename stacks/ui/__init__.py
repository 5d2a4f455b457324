"""``python -m stacks ui STACK [--port 8080]``: a local self-service page for ML engineers.

Pick a catalog model, see every GPU pool and sharing profile it fits (memory, GPUs, throughput, USD/month),
get the exact change to ``Pulumi.<stack>.yaml`` as a unified diff validated like ``stacks plan``, and write it
only when asked. Offline, no credentials, bound to 127.0.0.1. Modules: :mod:`stacks.ui.whatif` (the what-if
fit on the serving analysis), :mod:`stacks.ui.stackedit` (comment-keeping edits and the diff),
:mod:`stacks.ui.service` (what the page can ask), :mod:`stacks.ui.server` (HTTP, security checks) and
``static/`` (the page: plain HTML, CSS and JavaScript). Reference: docs/ui.md.
"""
