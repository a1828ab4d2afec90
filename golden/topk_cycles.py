"""Cycle models of the top-k engine.

:func:`engine_cycles` is the exact model of ``hw/topk/engine.py`` (same pivot rule,
same pipeline): cycles per request with no bubbles and no backpressure.
:func:`select_rounds` is the engine's quick-select: each round partitions its
candidates three ways around two pivots taken from a ranked sample (a
bracket around the estimated k-th value) and keeps the part holding rank k.
:func:`stream_cycles` extends it to requests back to back on one engine
or on several interleaved ones (``hw/topk/interleave.py``), and
:func:`row_cycles` gives the steady-state cycles per request of such a
stream. :func:`release_cycles` is the SpAtten release's model: the sum over
quick-select rounds of ``ceil(n_i / P) + 3`` with a uniformly random pivot.

Cycle convention: cycle 0 is the cycle the first score beat of the request is
accepted; a count is the number of cycles from cycle 0 up to and including
the event (the last result beat transferred, or the decision that makes the
k-th value known), i.e. ``t_event - t_first + 1``.
"""

import math
from typing import NamedTuple

import numpy as np

from .topk_timing import (
    BLOCK_RAM_LANDING,
    DISCARD_DELAY,
    EMPTY_DELAY,
    EMPTY_IDLE_GAP,
    FINAL_IDLE_GAP,
    FINAL_LATENCY,
    LUT_RAM_ROWS,
    ROUND_LATENCY,
    START_DELAY,
    round_gap_of,
)

__all__ = ["LFSR_TAPS", "lfsr_seeds", "lfsr_step", "sample_rows", "ROUND_LATENCY", "round_gap",
           "FINAL_LATENCY", "LUT_RAM_ROWS", "block_ram", "round_latency", "final_latency",
           "sample_size", "pivot_targets", "Round",
           "select_rounds", "engine_cycles", "request_cycles", "select_cycles", "release_cycles",
           "START_DELAY", "DISCARD_DELAY", "EMPTY_DELAY", "FINAL_IDLE_GAP", "EMPTY_IDLE_GAP", "stream_cycles",
           "row_cycles"]

# The engine's pipeline depths and request delays, defined once in
# golden.topk_timing and read by the hardware's stage components too.
# Buffers of at most LUT_RAM_ROWS rows are LUT RAM; deeper ones are block RAM,
# whose reads land in one register more: in the sample's path (so in every
# round) and in the final pass.


def block_ram(n_max, p):
    """Whether the engine's buffers (``ceil(n_max / p)`` rows) are block RAM."""
    return -(-n_max // _check_p(p)) > LUT_RAM_ROWS


def round_latency(n_max, p):
    """Cycles from a round's last beat to its decision, ``n_max`` and ``P = p``."""
    return ROUND_LATENCY + BLOCK_RAM_LANDING * block_ram(n_max, p)


def final_latency(n_max, p):
    """Cycles from the decision's next cycle plus a row's index to its result beat."""
    return FINAL_LATENCY + BLOCK_RAM_LANDING * block_ram(n_max, p)


def round_gap(p):
    """Cycles from a decision to the next round's sample read, ``P = p`` lanes
    (:func:`golden.topk_timing.round_gap_of`: the part writer's registers and
    the rotation's layers, so that the decided part's last row is written)."""
    return round_gap_of(_check_p(p))


# x^16 + x^14 + x^13 + x^11 + 1: period 65535 (every nonzero state).
LFSR_TAPS = (15, 13, 12, 10)


def lfsr_seeds(seed, count):
    """Distinct nonzero 16-bit seeds of the ``count`` per-bank LFSRs derived from one seed."""
    return [((seed * (2 * j + 1) + 0x9E37 * j) & 0xFFFF) or 1 for j in range(count)]


def lfsr_step(state):
    """One step of the 16-bit Fibonacci LFSR (shift left, feedback into bit 0)."""
    bit = 0
    for tap in LFSR_TAPS:
        bit ^= state >> tap & 1
    return (state << 1 | bit) & 0xFFFF


def sample_rows(states, n, p):
    """Rows the sample read of a later round takes from banks ``0..len(states)-1``.

    Bank ``j`` holds candidates ``row * p + j``. Each LFSR value is masked to
    the rows below the largest power of two <= the full rows ``n // p`` (an
    AND, no modulo: every sampled candidate exists).
    """
    full = n // p
    mask = (1 << full.bit_length() - 1) - 1 if full else 0
    return [state & mask for state in states]


def _check_p(p):
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
        raise TypeError(f"parallelism must be an integer, not {p!r}")
    if not 2 <= p <= 64 or p & (p - 1):
        raise ValueError(f"parallelism must be a power of two in 2..64, not {p!r}")
    return int(p)


def _check(scores, k, p):
    array = np.asarray(scores)
    if array.size == 0:
        array = array.astype(np.int64)         # np.asarray([]) is float64
    elif not np.issubdtype(array.dtype, np.integer) and array.ndim == 1 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in scores):
        # Python ints beyond int64/uint64 ranges (64-bit scores of both signs): exact objects.
        array = np.array([int(v) for v in scores], dtype=object)
    scores = array
    if scores.ndim != 1 or not (np.issubdtype(scores.dtype, np.integer) or scores.dtype == object):
        raise ValueError(f"scores must be a one-dimensional integer array, not {scores.dtype} "
                         f"of shape {scores.shape}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be a non-negative integer, not {k!r}")
    return scores, int(k), _check_p(p)


def sample_size(p):
    """``S``: how many leading candidates of a round are ranked for its pivot."""
    return min(_check_p(p), 16)


def pivot_targets(n, k, s):
    """Descending sample ranks ``(t_hi, t_lo)`` of a round's two pivots, ``n`` candidates.

    With ``n <= s`` the whole round is sampled: both are rank ``k - 1``, the
    exact k-th value. Otherwise ``t = min(s - 1, k * s // n)`` estimates the
    sample rank of the k-th value, and the pivots are the sample elements one
    rank on either side, ``max(0, t - 1)`` and ``min(s - 1, t + 1)``: a
    bracket that holds the k-th value with high probability, so that the
    next round keeps only the candidates between the pivots (about
    ``2n / (s + 1)``). A miss keeps the part above or below the bracket.
    """
    if n <= s:
        return k - 1, k - 1
    t = min(s - 1, k * s // n)
    return max(0, t - 1), min(s - 1, t + 1)


class Round(NamedTuple):
    """One quick-select round: ``n`` candidates, rank ``k`` wanted among them.

    ``hi >= lo`` are the pivots, and the four counts are the candidates
    ``> hi``, ``>= hi``, ``> lo`` and ``>= lo``. The parts are U (``> hi``),
    M (``lo < x < hi``) and D (``< lo``).
    """
    n: int
    k: int
    hi: int
    lo: int
    n_gt_hi: int
    n_ge_hi: int
    n_gt_lo: int
    n_ge_lo: int

    @property
    def outcome(self):
        """``"U"``, ``"M"`` or ``"D"`` (the part the next round reads), or
        ``"hi"`` / ``"lo"`` (that pivot is the k-th value: the selection ends)."""
        if self.n_gt_hi >= self.k:
            return "U"
        if self.n_ge_hi >= self.k:
            return "hi"
        if self.n_gt_lo >= self.k:
            return "M"
        if self.n_ge_lo >= self.k:
            return "lo"
        return "D"

    @property
    def threshold(self):
        """The k-th value, if this round ends the selection (else None)."""
        return {"hi": self.hi, "lo": self.lo}.get(self.outcome)


def select_rounds(scores, k, p, lfsr_seed=1):
    """Quick-select as the engine runs it: a list of :class:`Round`.

    ``1 <= k <= len(scores)``. The candidates of a round keep input order (the
    zero eliminators and the buffers preserve it). The pivots' sample: in
    round 1 the first ``min(n, S)`` scores (the first beat); in a later round
    candidate ``row_j * P + j`` of each bank ``j < min(n, S)``, rows from the
    per-bank LFSRs (reset to their seeds per request, one step per round).
    The last round's :attr:`Round.threshold` is the k-th value.
    """
    cand, k, p = _check(scores, k, p)
    s = sample_size(p)
    states = lfsr_seeds(lfsr_seed, s)
    rounds = []
    while True:
        n = cand.shape[0]
        if rounds:
            rows = sample_rows(states, n, p)
            states = [lfsr_step(state) for state in states]
            picked = cand[[rows[j] * p + j for j in range(min(n, s))]]
        else:
            picked = cand[:min(n, s)]
        sample = np.sort(picked)[::-1]
        t_hi, t_lo = pivot_targets(n, k, s)
        hi, lo = sample[t_hi], sample[t_lo]
        gt_hi, gt_lo = (cand > hi).astype(bool), (cand > lo).astype(bool)
        ge_hi, ge_lo = (cand >= hi).astype(bool), (cand >= lo).astype(bool)
        rnd = Round(n, k, hi, lo, int(gt_hi.sum()), int(ge_hi.sum()), int(gt_lo.sum()), int(ge_lo.sum()))
        rounds.append(rnd)
        outcome = rnd.outcome
        if outcome == "U":
            cand = cand[gt_hi]
        elif outcome == "M":
            cand, k = cand[gt_lo & ~ge_hi], k - rnd.n_ge_hi
        elif outcome == "D":
            cand, k = cand[~ge_lo], k - rnd.n_ge_lo
        else:
            return rounds


def engine_cycles(scores, k, *, n_max, parallelism, lfsr_seed=1):
    """Cycles of one request on ``TopKEngine(n_max=n_max, parallelism=parallelism)``.

    Returns ``{"select": int or None, "total": int, "rounds": int, "rows":
    list}``: ``select`` counts up to the cycle in which the k-th value is
    decided, ``total`` up to the transfer of the last result beat, ``rows``
    are the input rows with a kept element (one result beat each). ``k > n`` is
    clamped; ``k == 0`` and ``n > n_max`` (bad requests) consume the beats and
    emit one empty beat (``select`` None, ``rounds`` 0). ``n == 0`` has no
    score beat, hence no cycle 0: ValueError.
    """
    scores, k, p = _check(scores, k, parallelism)
    if isinstance(n_max, bool) or not isinstance(n_max, (int, np.integer)) or not 1 <= n_max <= 65536:
        raise ValueError(f"n_max must be in 1..65536, not {n_max!r}")
    n = scores.shape[0]
    if n == 0:
        raise ValueError("scores must hold at least one element (n == 0 has no score beat)")
    beats = -(-n // p)
    if k == 0 or n > n_max:
        return {"select": None, "total": beats + 1, "rounds": 0, "rows": []}
    k = min(k, n)
    rounds = select_rounds(scores, k, p, lfsr_seed)
    decision = beats - 1 + round_latency(n_max, p)
    for n_i, *_ in rounds[1:]:
        decision += round_gap(p) + (-(-n_i // p)) - 1 + round_latency(n_max, p)
    rows = _kept_rows(scores, k, rounds[-1].threshold, p)
    return {"select": decision + 1,
            "total": decision + 1 + rows[-1] + final_latency(n_max, p) + 1,
            "rounds": len(rounds), "rows": rows}


def _kept_rows(scores, k, threshold, p):
    """Input rows (beats) holding a kept element: one result beat each, in order.

    The final pass keeps ``x > T`` and the earliest ``x == T`` (``T`` the
    k-th value), ``k`` in all.
    """
    greater = np.flatnonzero((scores > threshold).astype(bool))
    equal = np.flatnonzero((scores == threshold).astype(bool))[:k - greater.shape[0]]
    return sorted({int(i) // p for i in np.concatenate([greater, equal])})


def stream_cycles(requests, *, n_max, parallelism, engines=1, lfsr_seed=1):
    """Cycles of a stream of requests on ``TopKInterleave(engines=...)`` (or one ``TopKEngine``).

    ``requests`` is a list of ``(scores, k)`` (``n = len(scores)``, bad
    requests included), sent back to back: the request and score streams
    never pause and the result stream never stalls. Returns, per request,
    ``{"request": a, "scores": [...], "results": [...]}``: the cycles in
    which its request beat, its score beats and its result beats are
    transferred, cycle 0 being that of the first request beat.

    The rules, from the hardware (``hw/topk/``): request ``i`` goes to
    engine ``i mod engines``, offered from the cycle after the last score
    beat of request ``i - 1`` (after its request beat if it has none) and
    accepted once that engine is idle, :data:`START_DELAY` cycles before
    its first score beat (:data:`DISCARD_DELAY` for a request whose beats
    are dropped); its score beats follow one per cycle. An engine
    runs as :func:`engine_cycles` says, except that its final pass starts
    at the later of its decision's next cycle and the cycle after the last
    result beat of request ``i - 1`` (results leave in request order); a
    result beat leaves at the earliest one cycle after the one before. An
    engine is idle again :data:`FINAL_IDLE_GAP` cycles after its last
    result beat (:data:`EMPTY_IDLE_GAP` after an empty answer).
    """
    p = _check_p(parallelism)
    if isinstance(engines, bool) or not isinstance(engines, (int, np.integer)) or not 1 <= engines <= 16:
        raise ValueError(f"engines must be in 1..16, not {engines!r}")
    free = [0] * engines          # first cycle each engine may accept a request
    offer = 0                     # first cycle the next request is offered
    previous_last = -1            # cycle of the previous request's last result beat
    timeline = []
    for number, (scores, k) in enumerate(requests):
        scores, k, _ = _check(scores, k, p)
        n, engine = scores.shape[0], number % engines
        accepted = max(offer, free[engine])
        beats = -(-n // p)
        dropped = k == 0 or n > n_max
        first = accepted + (DISCARD_DELAY if dropped else START_DELAY)
        score_cycles = [first + b for b in range(beats)]
        offer = (score_cycles[-1] if beats else accepted) + 1
        if n == 0:
            ready, final = [accepted + EMPTY_DELAY], False
        elif dropped:
            ready, final = [first + beats], False
        else:
            cycles = engine_cycles(scores, k, n_max=n_max, parallelism=p, lfsr_seed=lfsr_seed)
            hold = max(accepted + START_DELAY + cycles["select"], previous_last + 1)
            ready, final = [hold + row + final_latency(n_max, p) for row in cycles["rows"]], True
        results = []
        for cycle in ready:
            previous_last = max(cycle, previous_last + 1)
            results.append(previous_last)
        free[engine] = previous_last + (FINAL_IDLE_GAP if final else EMPTY_IDLE_GAP)
        timeline.append({"request": accepted, "scores": score_cycles, "results": results})
    return timeline


def request_cycles(scores, k, *, n_max, parallelism, lfsr_seed=1):
    """Total cycles of one request (see :func:`engine_cycles`)."""
    return engine_cycles(scores, k, n_max=n_max, parallelism=parallelism, lfsr_seed=lfsr_seed)["total"]


def select_cycles(scores, k, *, n_max, parallelism, lfsr_seed=1):
    """Cycles until the k-th value is known (None for a bad request or k == 0)."""
    return engine_cycles(scores, k, n_max=n_max, parallelism=parallelism, lfsr_seed=lfsr_seed)["select"]


def release_cycles(scores, k, parallelism, seed=0):
    """The SpAtten release's cycle model: sum over rounds of ``ceil(n_i / P) + 3``.

    The pivot of each round is a uniformly random candidate
    (``numpy.random.default_rng(seed)``); recursion as in the engine. ``k``
    is clamped to ``n``; ``k == 0`` costs 0 cycles.
    """
    scores, k, p = _check(scores, k, parallelism)
    rng = np.random.default_rng(seed)
    cand = scores
    k = min(k, cand.shape[0])
    cycles = 0
    while k > 0:
        n = cand.shape[0]
        cycles += math.ceil(n / p) + 3
        pivot = cand[rng.integers(n)]
        greater, less = cand[(cand > pivot).astype(bool)], cand[(cand < pivot).astype(bool)]
        n_eq = n - greater.shape[0] - less.shape[0]
        if greater.shape[0] >= k:
            cand = greater
        elif greater.shape[0] + n_eq >= k:
            break
        else:
            k -= greater.shape[0] + n_eq
            cand = less
    return cycles


def row_cycles(timeline, warmup=None):
    """Steady-state cycles per request of a back-to-back ``timeline`` (:func:`stream_cycles`'s form).

    The cycles between the last result beats of request ``warmup - 1`` and
    of the last request, per request in between; ``warmup`` (default a
    quarter of the requests, at least 1) leaves out the start, when the
    engines are not all busy yet.
    """
    count = len(timeline)
    warmup = max(1, count // 4) if warmup is None else warmup
    if not 1 <= warmup < count:
        raise ValueError(f"warmup must be in 1..{count - 1} (requests - 1), not {warmup!r}")
    return (timeline[-1]["results"][-1] - timeline[warmup - 1]["results"][-1]) / (count - warmup)
