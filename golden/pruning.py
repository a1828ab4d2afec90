"""Cascade token and head pruning, local value pruning: schedules, importance, survivors.

Schedules (:func:`keep_ratio`): with ``L`` layers, the first
``ceil(start * L)`` layers keep everything; from there the keep ratio falls
linearly and reaches ``final`` at the last layer:
``ratio(l) = 1 - (1 - final) (l - l0 + 1) / (L - l0)`` for ``l >= l0``. The ratio of
layer ``l`` applies to what layer ``l`` fetches, and the count is
``ceil(ratio * N)`` (:func:`keep_count`, at least 1) of ``N`` = all tokens of the
context (or all heads). Survivors are picked among the still-alive ones by
:func:`golden.topk.topk` (ties: earliest index); a pruned token or head never
comes back.

Importance (fixed point, saturating, :func:`sat_add`):

* token ``j``: ``+= sum over alive heads and query rows of p[h, i, j]`` (probability
  codes, U1.15, as they leave the softmax, before local value pruning) into a
  ``TOKEN_IMPORTANCE`` (32-bit) accumulator;
* head ``h``: ``+= sum over rows i and d of |out[h, i, d]|`` (output codes) into a
  ``HEAD_IMPORTANCE`` (40-bit) accumulator.

All addends are non-negative, so saturating after every single addition (what
the hardware does) equals ``min(total, max)`` (tested).

Local value pruning (:func:`value_keep_count`, :func:`topk_rows`): a query row
with ``n`` visible keys keeps the ``ceil(code * n / 2**16)`` (at least 1) largest
probabilities, ``code = floor(value_keep * 2**16)`` (:func:`value_keep_code`,
``VALUE_KEEP``: what the hardware takes; for tenths and quarters and
``n <= 8192`` it equals ``ceil(value_keep * n)``, tested), by the
same tie rule; only those V rows are fetched and multiplied, and the kept
probabilities are not renormalised.
"""

from __future__ import annotations

import math

import numpy as np

from .formats import HEAD_IMPORTANCE, TOKEN_IMPORTANCE, VALUE_KEEP, as_int
from .topk import topk

__all__ = ["keep_start", "keep_ratio", "keep_count", "value_keep_code", "value_keep_count",
           "value_keep_count_code", "sat_add",
           "token_importance", "head_importance", "prune", "protect_mask", "prune_step", "topk_rows"]


def _fraction(name, value, lo_open=False):
    value = float(value)
    ok = (0.0 < value <= 1.0) if lo_open else (0.0 <= value <= 1.0)
    if not ok:
        raise ValueError(f"{name} must be in {'(0' if lo_open else '[0'}, 1], not {value!r}")
    return value


def keep_start(n_layers, start):
    """First layer that may prune: ``ceil(start * n_layers)``."""
    n_layers = as_int("n_layers", n_layers)
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, not {n_layers}")
    return math.ceil(round(_fraction("start", start) * n_layers, 9))


def keep_ratio(layer, n_layers, start, final):
    """Fraction of tokens (or heads) that layer ``layer`` keeps."""
    layer = as_int("layer", layer)
    l0 = keep_start(n_layers, start)
    final = _fraction("final", final, lo_open=True)
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer must be in 0..{n_layers - 1}, not {layer}")
    if layer < l0:
        return 1.0
    return 1.0 - (1.0 - final) * (layer - l0 + 1) / (n_layers - l0)


def keep_count(ratio, n):
    """``ceil(ratio * n)``, at least 1 (0 only when ``n == 0``)."""
    n = as_int("n", n)
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    ratio = _fraction("ratio", ratio)
    return min(n, max(1, math.ceil(round(ratio * n, 9)))) if n else 0


def value_keep_code(value_keep):
    """The keep fraction as a ``VALUE_KEEP`` code: ``floor(value_keep * 2**16)`` (1.0 -> 65536)."""
    value_keep = _fraction("value_keep", value_keep, lo_open=True)
    # round() first so that a fraction computed in float (0.5 as 0.49999999999) keeps its code.
    return math.floor(round(value_keep * (1 << VALUE_KEEP.frac), 6))


def value_keep_count_code(code, n_visible):
    """Per row, V rows kept for a ``VALUE_KEEP`` code: ``ceil(code * n / 2**16)``, at least 1."""
    code = as_int("code", code)
    if not 0 <= code <= 1 << VALUE_KEEP.frac:
        raise ValueError(f"code must be in 0..{1 << VALUE_KEEP.frac}, not {code}")
    n_visible = np.asarray(n_visible, dtype=np.int64)
    k = (code * n_visible + (1 << VALUE_KEEP.frac) - 1) >> VALUE_KEEP.frac
    return np.where(n_visible > 0, np.clip(k, 1, None), 0)


def value_keep_count(value_keep, n_visible):
    """Per row, V rows kept by local value pruning: :func:`value_keep_count_code` of the code."""
    return value_keep_count_code(value_keep_code(value_keep), n_visible)


def sat_add(acc, add, fmt):
    """Unsigned saturating accumulation ``min(acc + add, fmt.max_int)`` of non-negative codes."""
    acc = np.asarray(acc, dtype=np.int64)
    add = np.asarray(add, dtype=np.int64)
    if fmt.signed:
        raise ValueError(f"fmt must be unsigned for an importance accumulator, not {fmt}")
    if add.size and add.min() < 0:
        raise ValueError("add must be non-negative")
    if acc.size and (acc.min() < 0 or acc.max() > fmt.max_int):
        raise ValueError(f"acc must be in 0..{fmt.max_int}")
    return np.minimum(acc + np.minimum(add, fmt.max_int), fmt.max_int)


def token_importance(acc, prob, fmt=TOKEN_IMPORTANCE):
    """Add the column sums of ``prob (H, rows, n)`` codes to ``acc (n,)``, saturating."""
    prob = np.asarray(prob)
    acc = np.asarray(acc)
    if prob.ndim != 3 or prob.shape[-1] != acc.shape[-1]:
        raise ValueError(f"prob must have shape (H, rows, n={acc.shape[-1]}), not {prob.shape}")
    return sat_add(acc, prob.astype(np.int64).sum(axis=(0, 1)), fmt)


def head_importance(acc, out, fmt=HEAD_IMPORTANCE):
    """Add ``sum |out|`` over rows and d of ``out (H, rows, D)`` codes to ``acc (H,)``, saturating."""
    out = np.asarray(out)
    acc = np.asarray(acc)
    if out.ndim != 3 or out.shape[0] != acc.shape[0]:
        raise ValueError(f"out must have shape (H={acc.shape[0]}, rows, D), not {out.shape}")
    return sat_add(acc, np.abs(out.astype(np.int64)).sum(axis=(1, 2)), fmt)


def prune(scores, alive, k):
    """New alive mask: the ``k`` alive elements with the largest scores (golden tie rule)."""
    scores = np.asarray(scores)
    alive = np.asarray(alive, dtype=bool)
    if scores.shape != alive.shape or scores.ndim != 1:
        raise ValueError(f"scores and alive must be 1-D of one shape, not {scores.shape}, {alive.shape}")
    idx = np.flatnonzero(alive)
    k = as_int("k", k)
    if not 0 <= k <= idx.size:
        raise ValueError(f"k must be in 0..{idx.size} (alive elements), not {k}")
    keep = np.zeros_like(alive)
    keep[idx[topk(scores[idx], k)]] = True
    return keep


def protect_mask(n, sinks=0, recent=0):
    """``(n,)`` bool: the first ``sinks`` and the last ``recent`` of ``n`` tokens (never pruned)."""
    n, sinks, recent = (as_int(name, v) for name, v in (("n", n), ("sinks", sinks), ("recent", recent)))
    if n < 0 or sinks < 0 or recent < 0:
        raise ValueError(f"n, sinks and recent must be >= 0, not {n}, {sinks}, {recent}")
    protect = np.zeros(n, dtype=bool)
    protect[:sinks] = True
    protect[n - min(n, recent):] = True
    return protect


def prune_step(scores, alive, target, protect=None):
    """One cascade pruning step: the new alive mask, at most ``target`` of ``alive`` kept.

    With more than ``target`` alive, the alive ``protect``ed elements stay (they
    count towards ``target``) and the rest keep the ``target - protected`` (at
    least 0) largest ``scores`` (:func:`prune`); otherwise nothing changes. The
    step of tokens and of heads alike (heads: no protection).
    """
    alive = np.asarray(alive, dtype=bool)
    target = as_int("target", target)
    if target < 0:
        raise ValueError(f"target must be >= 0, not {target}")
    if alive.sum() <= target:
        return alive.copy()
    if protect is not None and np.shape(protect) != alive.shape:
        raise ValueError(f"protect must have the shape of alive {alive.shape}, not {np.shape(protect)}")
    protect = np.zeros_like(alive) if protect is None else np.asarray(protect, dtype=bool) & alive
    rest = alive & ~protect
    k_rest = min(int(rest.sum()), max(0, target - int(protect.sum())))
    return protect | prune(scores, rest, k_rest)


def topk_rows(scores, k, mask=None):
    """Per row, the golden top-k among the ``mask``ed entries: a bool keep mask.

    ``scores (rows, n)``, ``k (rows,)`` with ``0 <= k[i] <= mask[i].sum()``. The same
    rule as :func:`golden.topk.topk` row by row (tested), vectorized.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must have shape (rows, n), not {scores.shape}")
    mask = np.ones(scores.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != scores.shape:
        raise ValueError(f"mask must have the shape of scores {scores.shape}, not {mask.shape}")
    k = np.broadcast_to(np.asarray(k, dtype=np.int64), scores.shape[:1])
    visible = mask.sum(axis=1)
    if np.any(k < 0) or np.any(k > visible):
        bad = int(np.flatnonzero((k < 0) | (k > visible))[0])
        raise ValueError(f"k must be in 0..n visible per row; row {bad}: k={int(k[bad])}, "
                         f"n={int(visible[bad])}")
    if scores.shape[1] == 0:
        return np.zeros(scores.shape, dtype=bool)
    work = scores.astype(np.float64)
    work = np.where(mask, work, -np.inf)
    ordered = -np.sort(-work, axis=1)
    kth = ordered[np.arange(scores.shape[0]), np.maximum(k - 1, 0)][:, None]
    greater = mask & (work > kth)
    equal = mask & (work == kth)
    n_equal = (k - greater.sum(axis=1))[:, None]
    keep = greater | (equal & (np.cumsum(equal, axis=1) <= n_equal))
    return keep & (k[:, None] > 0)

