"""Reusable Pulumi components of the AI platform blueprint.

Each module holds one capability: its pydantic specification (what a stack file may say) beside the
ComponentResource that turns it into Azure and Kubernetes resources.
"""
