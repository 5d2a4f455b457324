"""Model-serving runtimes other than the vLLM Deployment: the objects each one registers, as pure builders.

- :mod:`components.serving.runtimes.kaito`: a KAITO ``Workspace`` (AKS AI toolchain operator add-on) and its
  inference ConfigMap, on a device-plugin GPU pool the blueprint owns;
- :mod:`components.serving.runtimes.kuberay`: the KubeRay operator chart and a ``RayService`` running Ray Serve LLM
  with tensor x pipeline parallelism across the nodes of one pool, GPUs claimed through DRA.

The vLLM Deployment (runtime ``vllm``, the default) stays in :mod:`components.serving.workload`, which dispatches
on ``models.<name>.runtime``; where each runtime fits is :mod:`components.serving.runtime_fit`.
"""
