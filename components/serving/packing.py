"""Fewest GPUs: pick one fitting candidate per deployment for the whole stack, and the bound to compare with.

The fit (:mod:`components.serving.fit`) lists every (pool, sharing profile) each deployment fits; which one a
deployment takes changes how the others pack (seven 1g MIG slices share one A100, time-shared tenants share a
GPU while their memory adds up). :func:`search` chooses the combination with the lowest score the caller
computes (the fit scores: rule violations, then GPUs, then the GPUs' hourly cost):

- exact: every combination, when there are at most ``EXACT_LIMIT`` of them;
- otherwise local search from the cheapest-per-replica choice and from one start per (pool, profile) with
  every deployment that fits there moved there: change one deployment's candidate at a time, keep a change
  that lowers the score, until no single change does (at most ``MAX_PASSES`` sweeps); the best end wins.

Ties keep the combination that comes first (candidates are ordered cheapest per replica first), so the result
is deterministic. :func:`lower_bound` is ceil(total memory / GPU memory): no packing can use fewer GPUs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

EXACT_LIMIT = 4096
"""Largest number of combinations searched exhaustively (each costs one placement, ~0.1 ms per deployment)."""
MAX_PASSES = 8


def search(
    counts: Sequence[int],
    score: Callable[[tuple[int, ...]], Any],
    starts: Sequence[tuple[int, ...]] = (),
) -> tuple[int, ...]:
    """The choice (one index per deployment, ``0 <= i < counts[d]``) with the lowest ``score``.

    ``starts``: more starting choices for the local search besides all-zeros (the fit passes one per pool and
    sharing profile: every deployment that fits there, there), so consolidations that no single change reaches
    (several deployments leaving a GPU together) are found too.
    """
    if not counts:
        return ()
    if math.prod(counts) <= EXACT_LIMIT:
        return min(itertools.product(*(range(c) for c in counts)), key=lambda choice: (score(choice), choice))
    best: tuple[int, ...] | None = None
    best_score: Any = None
    for start in dict.fromkeys([tuple(0 for _ in counts), *starts]):
        found, found_score = _descend(counts, score, start)
        if best is None or (found_score, found) < (best_score, best):
            best, best_score = found, found_score
    assert best is not None
    return best


def _descend(
    counts: Sequence[int], score: Callable[[tuple[int, ...]], Any], start: tuple[int, ...]
) -> tuple[tuple[int, ...], Any]:
    """Single-deployment changes from ``start`` while one lowers the score (best change per deployment)."""
    best, best_score = start, score(start)
    for _ in range(MAX_PASSES):
        improved = False
        for index, count in enumerate(counts):
            for option in range(count):
                if option == best[index]:
                    continue
                trial = (*best[:index], option, *best[index + 1 :])
                trial_score = score(trial)
                if trial_score < best_score:
                    best, best_score, improved = trial, trial_score, True
        if not improved:
            break
    return best, best_score


def lower_bound(needs_gib: Sequence[float], memory_gib: Mapping[str, float]) -> tuple[int, dict[str, int]]:
    """(GPUs at least, GPUs at least per GPU model if every replica ran on that model).

    ``needs_gib``: the memory each replica needs in total (weights, KV cache, and per GPU activations and
    runtime at its smallest tensor parallelism); ``memory_gib``: device memory per GPU model. With GPU models
    mixed, no packing beats the total over the largest GPU.
    """
    total = sum(needs_gib)
    per_model = {name: math.ceil(total / memory - 1e-9) for name, memory in sorted(memory_gib.items())}
    overall = math.ceil(total / max(memory_gib.values()) - 1e-9) if memory_gib else 0
    return overall, per_model
