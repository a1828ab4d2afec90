"""Golden top-k: which elements the SpAtten top-k engine keeps.

The tie rule (``../shared/SPATTEN.md``): keep every element strictly greater
than the k-th largest value, then the earliest elements equal to it, in input
order, until exactly ``k`` are kept. The kept indices come back in input order.
"""

import numpy as np

__all__ = ["topk", "topk_threshold"]


def _check(scores, k):
    scores = np.asarray(scores)
    if scores.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, not of shape {scores.shape}")
    if not (np.issubdtype(scores.dtype, np.integer) or np.issubdtype(scores.dtype, np.floating)):
        raise TypeError(f"scores must be integers or floats, not {scores.dtype}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an integer, not {k!r}")
    n = scores.shape[0]
    if not 0 <= k <= n:
        raise ValueError(f"k must be in 0..n (n={n}), not {k}")
    return scores, int(k)


def topk_threshold(scores, k):
    """Return ``(kth_value, n_greater, n_equal_kept)`` for ``1 <= k <= n``.

    ``kth_value`` is the k-th largest value, ``n_greater`` how many elements are
    strictly greater, and ``n_equal_kept = k - n_greater`` how many of the
    elements equal to it are kept (the earliest ones).
    """
    scores, k = _check(scores, k)
    if k == 0:
        raise ValueError("k must be in 1..n for a threshold, not 0")
    kth = np.partition(scores, scores.shape[0] - k)[scores.shape[0] - k]
    n_greater = int(np.count_nonzero(scores > kth))
    return kth, n_greater, k - n_greater


def topk(scores, k):
    """Indices (int64, ascending) of the ``k`` elements kept by the tie rule."""
    scores, k = _check(scores, k)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    kth, _, n_equal_kept = topk_threshold(scores, k)
    greater = scores > kth
    equal = scores == kth
    # Earliest equal elements first: the running count of equals decides.
    equal_rank = np.cumsum(equal) - 1
    keep = greater | (equal & (equal_rank < n_equal_kept))
    return np.flatnonzero(keep).astype(np.int64)
