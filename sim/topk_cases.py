"""Top-k request cases and their expected results, shared by the cocotb testbench (``sim/topk.py``)
and the Amaranth-simulator tests (``tests/test_hw_topk.py``). Plain Python and numpy.

The generators draw from ``rng`` and build each case with ``case(label, n, k, scores=None)``
(``scores=None``: random scores, drawn by ``case`` when it is called), so that a run's
cases depend on the seed alone, whichever side builds them.
"""

from typing import NamedTuple

import numpy as np

from golden.topk import topk

__all__ = ["Request", "request_factory", "expected", "edge_cases", "random_cases", "score_range"]


class Request(NamedTuple):
    """One request as the Amaranth-simulator tests keep it."""
    label: str
    n: int
    k: int
    scores: list


def request_factory(rng, lo, hi):
    """A ``case`` function for the generators: :class:`Request` s, random scores from ``rng``."""
    def case(label, n, k, scores=None):
        if scores is None:
            scores = [rng.randint(lo, hi) for _ in range(n)]
        return Request(label, n, k, list(scores))
    return case


def score_range(bits, signed):
    """``(lo, hi)``: the smallest and largest score of ``bits`` bits."""
    return (-(1 << bits - 1), (1 << bits - 1) - 1) if signed else (0, (1 << bits) - 1)


def expected(n, k, scores, n_max):
    """``(indices, scores, error)`` an engine of ``n_max`` returns for the request ``{n, k}``.

    The kept elements by :func:`golden.topk.topk` (``k`` clamped to ``n``,
    ``error`` if it was above), or none with ``error`` for ``n = 0`` or
    ``n > n_max``.
    """
    if n == 0 or n > n_max:
        return [], [], 1
    indices = [int(i) for i in topk(np.array(scores, dtype=np.int64), min(k, n))]
    return indices, [scores[i] for i in indices], int(k > n)


def edge_cases(rng, case, *, n_max, lanes, lo, hi, n_limit):
    """Hand-picked cases: orders, ties, k and n at their limits, extreme values, bad requests.

    ``n_limit`` is the largest ``n`` the request field holds.
    """
    mid = min(n_max, 3 * lanes + 1)
    up = sorted(rng.randint(lo, hi) for _ in range(mid))
    cases = [
        case("sorted up", mid, mid // 3, up),
        case("sorted down", mid, mid // 3, up[::-1]),
        case("all equal", mid, mid // 2, [rng.randint(lo, hi)] * mid),
        case("heavy ties", n_max, n_max // 3, [rng.choice((lo, 0, hi)) for _ in range(n_max)]),
        case("two values", n_max, n_max // 2 + 1, [rng.choice((lo + 1, lo + 2)) for _ in range(n_max)]),
        case("k=0", mid, 0),
        case("k=1", mid, 1),
        case("k=n", mid, mid),
        case("n=1 k=1", 1, 1),
        case("n=1 k=0", 1, 0),
        case("n=n_max", n_max, max(1, n_max // 4)),
        case("n=n_max k=n_max", n_max, n_max),
        case("n=n_max k=1", n_max, 1),
        case("all min", mid, mid // 2, [lo] * mid),
        case("all max", mid, mid // 2, [hi] * mid),
        case("min and max", n_max, n_max // 2, [rng.choice((lo, hi)) for _ in range(n_max)]),
        case("max last", mid, 1, [lo] * (mid - 1) + [hi]),
        case("min first k=n-1", mid, mid - 1, [lo] + [hi] * (mid - 1)),
        case("k>n (clamped)", mid, mid + 1),
        case("k=k_max>n (clamped)", 1, n_limit),
        case("n=0", 0, 1),
        case("n=0 k=0", 0, 0),
        case("n=n_max+1", n_max + 1, 1),
        case("n at field max", n_limit, n_limit),
        case("n=P", min(n_max, lanes), 2),
        case("n=P+1", min(n_max, lanes + 1), 2),
    ]
    # n and k are fields of count_bits: at n_max = 1 a request holds no k above 1.
    return [c for c in cases if c.n <= n_limit and c.k <= n_limit]


def random_cases(rng, case, count, *, n_max, lanes, lo, hi, n_limit, bad=0.05):
    """``count`` random requests mixing sizes, value spreads and a fraction ``bad`` of bad requests."""
    cases = []
    for _ in range(count):
        draw = rng.random()
        if draw < bad / 2:
            n = rng.choice((0, rng.randint(n_max + 1, n_limit) if n_limit > n_max else 0))
            cases.append(case("bad n", n, rng.randint(0, n_limit)))
            continue
        n = rng.choice((rng.randint(1, n_max), rng.randint(1, min(n_max, 4 * lanes)), n_max))
        k = rng.randint(n + 1, n_limit) if draw < bad else rng.randint(0, n)
        spread = rng.choice(("full", "narrow", "few"))
        if spread == "full":
            scores = [rng.randint(lo, hi) for _ in range(n)]
        elif spread == "narrow":
            base = rng.randint(lo, hi - 3)
            scores = [rng.randint(base, base + 3) for _ in range(n)]
        else:
            values = [rng.randint(lo, hi) for _ in range(rng.randint(1, 3))]
            scores = [rng.choice(values) for _ in range(n)]
        cases.append(case(f"random {spread}" + (" k>n" if k > n else ""), n, k, scores))
    return cases
