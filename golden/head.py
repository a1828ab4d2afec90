"""One head of one layer as the core's head datapath (``hw/core``) runs it: a job in, rows out.

A **job** is what the core top hands the datapath for one head: the DRAM
bases of the head's Q, K and V planes (``golden.quant.pack_kv``, rows of
``cfg.head_dim`` elements, a head with ``d < head_dim`` stored zero-padded),
``lk`` keys, ``lq`` query rows (row ``i`` at position ``lk - lq + i``),
``d``, the causal flag, the folded score scale ``(m, sh)``
(``golden.qk.score_multiplier``), the value-keep code
(``golden.pruning.value_keep_code``) and the re-fetch threshold code
(``golden.fetch.refetch_threshold_code``); and the head's alive tokens, an
ascending list of indices below ``lk``. :func:`head_job` says what the
datapath answers: :func:`golden.spatten.attend_head` on those rows, the
column sums of the final probabilities per alive token (the token
importance the core top adds), ``sum |out|`` (the head importance) and the
head's traffic and work (:func:`golden.spatten.head_counters`).

A bad job (:func:`job_error`, checks in the order of :class:`HeadError`)
computes nothing: its result carries the error and no row.

**Cycles.** The datapath runs one query row at a time through every stage
(the sequential schedule); its cycles depend on the memory's latency, so
:func:`cycles_floor` is a bound, not a prediction: the bus words of the
rows read and the beats every stage must take, one per cycle, with no
latency and no overlap between stages, summed. The testbench checks
``cycles >= cycles_floor`` on every job and the benchmark reports their
ratio (the schedule's overhead).
"""

from __future__ import annotations

import enum

import numpy as np

from .formats import HEAD_IMPORTANCE, PROB, TOKEN_IMPORTANCE, VALUE_KEEP, as_int
from .pruning import value_keep_count_code
from .spatten import attend_head, head_counters

__all__ = ["HeadError", "job_error", "visible_of", "head_job", "cycles_floor"]


class HeadError(enum.IntEnum):
    """Why a job was refused (the first check that fails, in this order), or ``FETCH``."""
    OK = 0
    D_RANGE = 1        # d outside 1..head_dim
    LK_RANGE = 2       # lk outside 1..max_context
    LQ_RANGE = 3       # lq outside 1..lk
    ALIVE_RANGE = 4    # an alive index >= lk (the first bad index decides range or order)
    ALIVE_ORDER = 5    # an alive index not above the one before it
    FETCH = 6          # a fetch ended with a status other than OK (misaligned base, AXI error)


def job_error(cfg, *, d, lk, lq, alive):
    """The :class:`HeadError` of a job's parameters and alive list (``FETCH`` is not decided here)."""
    d, lk, lq = (as_int(name, v) for name, v in (("d", d), ("lk", lk), ("lq", lq)))
    if not 1 <= d <= cfg.head_dim:
        return HeadError.D_RANGE
    if not 1 <= lk <= cfg.max_context:
        return HeadError.LK_RANGE
    if not 1 <= lq <= lk:
        return HeadError.LQ_RANGE
    prev = -1
    for index in alive:
        if index >= lk:
            return HeadError.ALIVE_RANGE
        if index <= prev:
            return HeadError.ALIVE_ORDER
        prev = index
    return HeadError.OK


def visible_of(alive, lk, lq, causal):
    """``(lq, lk)`` bool: row ``i`` sees the alive keys ``j`` (``j <= lk - lq + i`` if causal)."""
    mask = np.zeros(lk, dtype=bool)
    mask[np.asarray(alive, dtype=np.int64)] = True
    visible = np.broadcast_to(mask, (lq, lk)).copy()
    if causal:
        visible &= np.arange(lk)[None, :] <= (np.arange(lq)[:, None] + lk - lq)
    return visible


def head_job(cfg, *, q, k, v, m, sh, alive, causal, value_keep_code, threshold_code):
    """What the head datapath answers for a good job on codes ``q (lq, D)``, ``k, v (lk, D)``.

    Returns a dict: ``out (lq, D)`` codes, ``refetch (lq,)``, ``kept (lq,)``
    (V rows kept per row), ``max_prob`` and ``seen`` (the row's largest final
    probability, whether it sees a key), ``importance`` (column sums per alive token, in
    list order), ``head_importance`` (``sum |out|``, saturated) and
    ``counters`` (:func:`golden.spatten.head_counters` with rows of
    ``cfg.head_dim``, plus ``rows``, ``rows_refetched``); ``prob (lq, lk)`` (the final
    probability codes) and ``kept_mask (lq, lk)`` (the V rows each row keeps), what the
    cycle model (``golden.core_cycles``) reads.
    """
    q, k, v = (np.asarray(x, dtype=np.int64) for x in (q, k, v))
    lq, d = q.shape
    lk = k.shape[0]
    visible = visible_of(alive, lk, lq, causal)
    res = attend_head(q, k, v, m, sh, visible, _JobConfig(cfg, value_keep_code, threshold_code))
    alive = np.asarray(alive, dtype=np.int64)
    col = res["prob"].astype(np.int64).sum(axis=0)[alive]
    counters = head_counters(res, visible, d, cfg, row_d=cfg.head_dim)
    counters.update(rows=lq, rows_refetched=int(res["refetch"].sum()))
    return {"out": res["out_code"], "refetch": res["refetch"], "kept": res["kept"].sum(axis=1),
            "max_prob": res["prob"].max(axis=1) if lk else np.zeros(lq, np.int64),
            "seen": visible.any(axis=1),
            "importance": np.minimum(col, TOKEN_IMPORTANCE.max_int),
            "head_importance": min(int(np.abs(res["out_code"]).sum()), HEAD_IMPORTANCE.max_int),
            "counters": counters, "prob": res["prob"], "kept_mask": res["kept"]}


class _JobConfig:
    """``cfg`` with ``value_keep`` and ``requant_threshold`` of the job's codes, exactly.

    ``attend_head`` reads the fractions; ``code / 2**16`` and ``code / 2**15``
    are exact in float and give their codes back (``value_keep_code``,
    ``refetch_threshold_code``). Code 0 keeps as many rows as code 1 (one).
    """

    def __init__(self, cfg, keep_code, threshold_code):
        self._cfg = cfg
        value_keep_count_code(keep_code, [1])  # range check
        self.value_keep = max(as_int("value_keep_code", keep_code), 1) / (1 << VALUE_KEEP.frac)
        threshold_code = as_int("threshold_code", threshold_code)
        if not 0 <= threshold_code <= 1 << PROB.frac:
            raise ValueError(f"threshold_code must be in 0..{1 << PROB.frac}, not {threshold_code}")
        self.requant_threshold = threshold_code / (1 << PROB.frac)

    def __getattr__(self, name):
        return getattr(self._cfg, name)


def cycles_floor(cfg, *, dram_bytes, lk, lq, alive, causal, refetch, kept):
    """Fewest cycles a job can take in the sequential schedule (a bound, see the module docstring).

    ``dram_bytes / (axi_data_bits / 8)``: the bus words of every row read
    (one per cycle at most; no fetch overlaps computing in this schedule).
    Per row with ``n`` visible keys (``b = ceil(n / lanes)`` beats, ``lanes``
    keys per Q x K beat): per pass (two for a re-fetched row) ``3 b``, the
    softmax's three passes over the row (ingest while Q x K streams, exp,
    normalise), each needing the one before it whole; then ``max(ceil(n /
    P), kept)``, the top-k's final pass and the kept lookup (one element per
    cycle) beside it; then ``ceil(kept / rows)`` prob x V beats (``rows`` V
    rows per beat).
    """
    lanes = cfg.qk_multipliers // cfg.head_dim
    rows = cfg.pv_multipliers // cfg.head_dim
    visible = visible_of(alive, lk, lq, causal).sum(axis=1)
    total = -(-as_int("dram_bytes", dram_bytes) // (cfg.axi_data_bits // 8))
    for n, again, k in zip(visible.tolist(), np.asarray(refetch).tolist(), np.asarray(kept).tolist(),
                           strict=True):
        if n:
            total += (2 if again else 1) * 3 * -(-n // lanes)
            total += max(-(-n // cfg.topk_parallelism), k) + -(-k // rows)
    return total
