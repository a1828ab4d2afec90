"""Analytical cycle and traffic model of the SpAtten core, head by head, stage by stage.

The core (``../shared/ARCHITECTURE.md``) runs the query rows of a head
through five stages that overlap across rows: Q x K (``qk_lanes`` scores a
cycle), softmax (``softmax_lanes`` a cycle), local-V top-k (engines of
``P`` comparators, :func:`golden.topk_cycles.engine_cycles`), prob x V
(``pv_rows`` V rows a cycle) and the fetcher (``bytes_per_cycle`` of DRAM
bandwidth). A row that re-fetches its LSBs passes Q x K and softmax twice.
With the stages overlapped, a row costs its slowest stage, a head costs the
sum of its rows' costs or its DRAM time, whichever is longer (the K/V of
the next head are fetched while this one computes: double-buffered
buffers), and each call (a layer of a summarisation or of one generation
step) pays the pipeline's fill once, plus a cascade top-k over the token
importances when it prunes.

The stage latencies (fill) are the blocks' own properties, passed in by the
caller (``gen.bench_core`` reads them from ``hw``), not copied here.

This is the model the core is built to reach; the RTL's counters are
checked against it once the core exists (issue 19, JSON key
``model_error``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from .formats import OUT_FRAC, as_int
from .quant import row_bytes
from .topk_cycles import FINAL_IDLE_GAP, START_DELAY, engine_cycles

__all__ = ["CoreRates", "HeadWork", "head_cycles", "topk_row_cycles", "run_cycles", "summary_work",
           "generation_work", "STAGES"]

#: Stages whose busy cycles the model reports.
STAGES = ("qk", "softmax", "topk", "pv", "memory")


@dataclass(frozen=True)
class CoreRates:
    """Throughput and fill of the core's stages, and its memory bandwidth.

    ``qk_lanes``, ``softmax_lanes``, ``pv_rows``: elements per cycle;
    ``topk_parallelism``, ``topk_engines``, ``topk_n_max``: the top-k engines;
    ``bytes_per_cycle``: DRAM bandwidth; ``fill``: cycles from a call's first
    fetch to its first output with every stage idle (the stages' latencies
    summed); ``qk_multipliers``, ``pv_multipliers``: for the compute bound.
    """
    qk_lanes: int
    softmax_lanes: int
    pv_rows: int
    topk_parallelism: int
    topk_engines: int
    topk_n_max: int
    bytes_per_cycle: float
    fill: int
    qk_multipliers: int
    pv_multipliers: int

    def __post_init__(self):
        for name in ("qk_lanes", "softmax_lanes", "pv_rows", "topk_parallelism", "topk_engines",
                     "topk_n_max", "qk_multipliers", "pv_multipliers"):
            if as_int(name, getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)!r}")
        if as_int("fill", self.fill) < 0:
            raise ValueError(f"fill must be >= 0, not {self.fill!r}")
        if not self.bytes_per_cycle > 0:
            raise ValueError(f"bytes_per_cycle must be > 0, not {self.bytes_per_cycle!r}")


@dataclass(frozen=True)
class HeadWork:
    """What one head does in one call.

    ``visible[i]``: keys query row ``i`` sees; ``kept[i]``: V rows it keeps;
    ``recompute[i]``: it re-fetched LSBs and ran Q x K and softmax again.
    ``keys_msb, keys_lsb, values_msb, values_lsb``: rows of each plane
    fetched; ``msb_bits, lsb_bits``: plane widths; ``q_bits``: Q in DRAM;
    ``out_bits``: output elements written; ``dense_visible``: keys the dense
    baseline multiplies over (all rows).
    """
    d: int
    visible: np.ndarray
    kept: np.ndarray
    recompute: np.ndarray
    keys_msb: int
    keys_lsb: int
    values_msb: int
    values_lsb: int
    msb_bits: int
    lsb_bits: int
    q_bits: int
    out_bits: int
    dense_visible: int
    extra: dict = field(default_factory=dict)

    @property
    def rows(self):
        return int(np.shape(self.visible)[0])

    def dram_bytes(self):
        """Bytes read (per plane and Q) and written, as the fetcher and the writer move them."""
        msb, lsb = row_bytes(self.d, self.msb_bits), row_bytes(self.d, self.lsb_bits) if self.lsb_bits else 0
        return {"k_msb": self.keys_msb * msb, "k_lsb": self.keys_lsb * lsb,
                "v_msb": self.values_msb * msb, "v_lsb": self.values_lsb * lsb,
                "q": self.rows * row_bytes(self.d, self.q_bits),
                "out": self.rows * row_bytes(self.d, self.out_bits)}

    def macs(self):
        """Multiplies done: Q x K over visible keys (twice for recomputed rows), prob x V over kept."""
        visible = np.asarray(self.visible, dtype=np.int64)
        qk = int((visible * (1 + np.asarray(self.recompute, dtype=np.int64))).sum()) * self.d
        return {"qk": qk, "pv": int(np.asarray(self.kept, dtype=np.int64).sum()) * self.d,
                "dense": 2 * self.dense_visible * self.d}


@cache
def topk_row_cycles(n, k, parallelism, engines, n_max, seed=1):
    """Steady-state cycles per row of a top-k of ``k`` out of ``n`` on interleaved engines.

    An engine holds a request for :func:`engine_cycles`'s total plus its
    start and idle gaps; ``engines`` of them share the rows, and the input
    beats of consecutive rows cannot overlap. The scores are a fixed random
    sample (the rounds depend on the data only through the pivots' ranks).
    """
    if n < 1:
        return 0
    scores = np.random.default_rng(seed + n).integers(0, 1 << 15, n)
    total = engine_cycles(scores, min(max(k, 1), n), n_max=n_max, parallelism=parallelism)["total"]
    held = START_DELAY + total + FINAL_IDLE_GAP
    return max(math.ceil(n / parallelism), held / engines)


def head_cycles(work, rates):
    """Cycles of one head, and the busy cycles of each stage (:data:`STAGES`).

    A row costs its slowest compute stage; the head costs the sum of its
    rows or its DRAM time, whichever is longer.
    """
    visible = np.asarray(work.visible, dtype=np.int64)
    kept = np.asarray(work.kept, dtype=np.int64)
    passes = 1 + np.asarray(work.recompute, dtype=np.int64)
    qk = -(-visible // rates.qk_lanes) * passes
    softmax = np.maximum(1, -(-visible // rates.softmax_lanes)) * passes
    topk = np.array([topk_row_cycles(int(n), int(k), rates.topk_parallelism, rates.topk_engines,
                                     rates.topk_n_max) for n, k in zip(visible, kept, strict=True)])
    pv = -(-kept // rates.pv_rows)
    compute = np.maximum.reduce([qk, softmax, topk, pv]) if visible.size else np.zeros(0)
    memory = sum(work.dram_bytes().values()) / rates.bytes_per_cycle
    busy = {"qk": float(qk.sum()), "softmax": float(softmax.sum()), "topk": float(topk.sum()),
            "pv": float(pv.sum()), "memory": float(memory)}
    macs = work.macs()
    bound = max(macs["qk"] / rates.qk_multipliers, macs["pv"] / rates.pv_multipliers, memory)
    return {"cycles": max(float(compute.sum()), memory), "busy": busy, "bound": bound}


def run_cycles(calls, rates):
    """Cycles of a run: ``calls`` is a list of ``(heads, cascade_n)`` (a call's :class:`HeadWork` s
    and the tokens its cascade top-k ranks, 0 for none).

    Returns a dict of totals: ``cycles``, ``bound`` (the roofline
    max(compute, memory) summed over heads), ``busy`` per stage, ``dram_bytes``
    per plane, ``macs``, and ``calls``.
    """
    total = {"cycles": 0.0, "bound": 0.0, "busy": dict.fromkeys(STAGES, 0.0),
             "dram_bytes": {}, "macs": {"qk": 0, "pv": 0, "dense": 0}, "calls": 0}
    for heads, cascade_n in calls:
        total["calls"] += 1
        total["cycles"] += rates.fill
        if cascade_n:
            scores = np.random.default_rng(cascade_n).integers(0, 1 << 31, cascade_n)
            total["cycles"] += engine_cycles(scores, max(1, cascade_n // 2), n_max=max(cascade_n, 1),
                                             parallelism=rates.topk_parallelism)["total"]
        for work in heads:
            res = head_cycles(work, rates)
            total["cycles"] += res["cycles"]
            total["bound"] += res["bound"]
            for stage, cycles in res["busy"].items():
                total["busy"][stage] += cycles
            for plane, nbytes in work.dram_bytes().items():
                total["dram_bytes"][plane] = total["dram_bytes"].get(plane, 0) + nbytes
            for kind, count in work.macs().items():
                total["macs"][kind] += count
    return total


def summary_work(*, length, keys, values, d, msb_bits, lsb_bits, q_bits, lsb_fetched,
                 recompute_fraction, causal=True):
    """A summarisation head of ``length`` query rows over ``keys`` alive keys (spread evenly),
    keeping ``values / keys`` of each row's visible keys; ``lsb_fetched``: the head fetches its
    LSB planes, and ``recompute_fraction`` of its rows (spread evenly) run twice."""
    rows = np.arange(1, length + 1)
    visible = -(-keys * rows // length) if causal else np.full(length, keys)
    kept = np.maximum(1, -(-values * visible // max(keys, 1)))
    recompute = np.zeros(length, dtype=bool)
    if lsb_fetched and recompute_fraction > 0:
        count = max(1, round(recompute_fraction * length))
        recompute[np.linspace(0, length - 1, count).astype(int)] = True
    dense = int(rows.sum()) if causal else length * length
    return HeadWork(d=d, visible=visible, kept=kept, recompute=recompute, keys_msb=keys,
                    keys_lsb=keys if lsb_fetched else 0, values_msb=values,
                    values_lsb=values if lsb_fetched else 0, msb_bits=msb_bits, lsb_bits=lsb_bits,
                    q_bits=q_bits, out_bits=q_bits + OUT_FRAC, dense_visible=dense)


def generation_work(*, length, keys, values, d, msb_bits, lsb_bits, q_bits, refetch):
    """One generated token's query row over ``keys`` alive keys of a ``length``-token context,
    keeping ``values`` V rows, re-fetching LSBs (and recomputing) if ``refetch``."""
    return HeadWork(d=d, visible=np.array([keys]), kept=np.array([values]),
                    recompute=np.array([bool(refetch)]), keys_msb=keys,
                    keys_lsb=keys if refetch else 0, values_msb=values,
                    values_lsb=values if refetch else 0, msb_bits=msb_bits, lsb_bits=lsb_bits,
                    q_bits=q_bits, out_bits=q_bits + OUT_FRAC, dense_visible=length)
