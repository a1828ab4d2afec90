"""Cycle model of one layer command on the RTL core (``hw.core.core.SpattenCore``), per stage.

Two halves. :func:`command_trace` takes a command's entry of
``golden.core.CoreModel.results`` (its pruning state and each alive head's
``golden.head.head_job`` answer) and extracts what decides the cycles: the
pruning step's candidates and scores, the alive list, and per query row of
every head the visible keys, the V rows kept, the re-fetch flag, the K LSB
rows and V rows not yet on chip, and the probabilities the top-k ranks. It is
plain data (JSON-able). :func:`command_cycles` turns a trace into cycles for a
memory whose every burst's first beat comes ``latency`` cycles after its AR
handshake (no stalls), following the FSMs of ``hw/core`` (the command list
walker, the layer sequencer, the sequence state, the head datapath's
sequential schedule) with each block's latency from the block itself: the
model constructs the blocks ``hw.core.head.HeadDatapath`` builds (same
constructor calls, nothing elaborated) and reads their latency properties
(``QkUnit.latency``, ``Softmax.latency``, ``PvUnit.latency``,
``Fetcher.row_latency``, ``RunPlanner.PLAN_CYCLES``, ``BurstIssuer.RUN_CYCLES``
and ``BURST_CYCLES``, ``AliveList.LATENCY``, ``SequenceState.latency_unpruned``)
and the top-k's cycle model (``golden.topk_cycles.engine_cycles``). The cycles
that are no block's property are the named constants :data:`_FETCH`,
:data:`_ROW` and :data:`_CMD`, read off the FSMs and checked against the RTL
(``gen.bench_core_rtl``: every output row's cycle and every AR's).

Cycles are those of ``CYCLES_BUSY``: ``STATUS.busy`` high, from the cycle after
``CTRL.start`` to the command's ``finished`` handshake, for one command started
alone (how ``gen.driver.SpattenDriver.run_model`` runs them).
"""

import numpy as np

from .formats import VALUE_KEEP
from .head import visible_of

__all__ = ["command_trace", "command_cycles", "STAGES"]


def _ints(values):
    return [int(v) for v in np.asarray(values).ravel()]


def _row_traces(job, alive, lk, lq, causal, value_keep):
    visible = visible_of(alive, lk, lq, causal)
    have_msb, have_lsb = set(), set()
    lsb_have = 0
    rows = []
    for i in range(lq):
        vis = visible[i]
        nvis = int(vis.sum())
        refetch = bool(job["refetch"][i])
        kept_tokens = _ints(np.flatnonzero(job["kept_mask"][i]))
        miss_msb = [t for t in kept_tokens if t not in have_msb]
        have_msb.update(kept_tokens)
        miss_lsb, lsb_new = [], []
        if refetch:
            miss_lsb = [t for t in kept_tokens if t not in have_lsb]
            have_lsb.update(kept_tokens)
            lsb_new = _ints(alive[lsb_have:nvis])
            lsb_have = nvis
        keep = max(1, -(-(value_keep * nvis) >> VALUE_KEEP.frac)) if nvis else 0
        rows.append({"nvis": nvis, "keep": keep, "kept": len(kept_tokens), "refetch": refetch,
                     "miss_msb": miss_msb, "miss_lsb": miss_lsb, "lsb_new": lsb_new,
                     "scores": _ints(job["prob"][i][vis])})
    return rows


def command_trace(cfg, result):
    """What decides a command's cycles, from its ``CoreModel.results`` entry (a JSON-able dict).

    ``command`` (the sizes, flags, keep counts and plane bases / strides),
    ``pruning`` (``tokens_before``, ``alive_before``, the candidates' scores in
    token order, ``protected`` alive, ``head_candidates`` and ``head_scores``,
    ``tokens_kept``, ``heads_kept``), ``alive`` (the alive tokens) and ``jobs``:
    per alive head ``head`` and ``rows``, each row's ``nvis`` (visible keys),
    ``keep`` (the top-k's k), ``kept``, ``refetch``, ``miss_msb`` / ``miss_lsb``
    (the V rows it fetches), ``lsb_new`` (the K LSB rows it fetches) and
    ``scores`` (its final probabilities in alive order: the top-k's input).
    """
    cmd = result["command"]
    pr = result["pruning"]
    fields = ("keys", "rows", "heads", "head_dim", "causal", "fresh", "layer", "token_keep", "head_keep",
              "value_keep", "threshold")
    command = {name: int(getattr(cmd, name)) for name in fields}
    for plane in ("q_msb", "q_lsb", "k_msb", "k_lsb", "v_msb", "v_lsb"):
        command[f"{plane}_base"] = int(getattr(cmd, f"{plane}_base"))
        command[f"{plane}_stride"] = int(getattr(cmd, f"{plane}_stride"))
    alive_before = np.asarray(pr["alive_before"], bool)
    protect = np.asarray(pr["protect"], bool)
    cand = alive_before & ~protect
    pruning = {"tokens_before": int(pr["tokens_before"]), "alive_before": int(alive_before.sum()),
               "protected": int((alive_before & protect).sum()),
               "candidate_scores": _ints(np.asarray(pr["token_score"])[cand]),
               "head_candidates": _ints(np.flatnonzero(pr["head_candidates"])),
               "head_scores": _ints(np.asarray(pr["head_score"])),
               "tokens_kept": int(result["tokens_kept"]), "heads_kept": int(result["heads_kept"])}
    alive = np.flatnonzero(result["token_alive"])
    jobs = [{"head": int(h), "rows": _row_traces(result["jobs"][int(h)], alive, cmd.keys, cmd.rows,
                                                 bool(cmd.causal), int(cmd.value_keep))}
            for h in np.flatnonzero(result["head_alive"])]
    return {"command": command, "pruning": pruning, "alive": _ints(alive), "jobs": jobs}


#: The stages a command's cycles are split into (the keys of :func:`command_cycles`' answer).
STAGES = ("command", "pruning", "heads", "fetch_k", "fetch_q", "qk_softmax", "refetch", "topk", "fetch_v",
          "pv", "output", "importance", "finish")


class _Blocks:
    """The latencies the model reads from the blocks the RTL builds (constructed, not elaborated)."""

    def __init__(self, cfg):
        import dataclasses

        from amaranth.hdl import Module

        from hw.core.alive_list import AliveList
        from hw.core.head import HeadDatapath
        from hw.core.sequence import sequence_state_from_config

        head = HeadDatapath(config=dataclasses.replace(cfg, axi_id_bits=cfg.axi_id_bits - 1))
        # The datapath's own constructor calls (one place for their parameters), for their
        # properties only: nothing here is elaborated, so the unused-elaboratable lint is off.
        m = Module()
        fetcher, qk, softmax, topk, pv, *_rest = head._blocks(m)
        self.state = sequence_state_from_config(cfg)
        _silence([m, head, self.state, fetcher, qk, softmax, topk, pv, *_rest])
        self.lanes, self.pv_rows, self.p = head.qk_lanes, head.pv_rows, cfg.topk_parallelism
        self.fetcher, self.qk, self.softmax, self.topk, self.pv = fetcher, qk, softmax, topk, pv
        self.alive_latency = AliveList.LATENCY
        self.data_bytes = cfg.axi_data_bits // 8
        self.row_bytes = fetcher.row_bytes


def _silence(blocks):
    """Mark ``blocks`` and every elaboratable they hold (their stages) as used."""
    from amaranth.hdl import Elaboratable, Module

    seen, todo = set(), list(blocks)
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (Elaboratable, Module)):
            obj._MustUse__silence = True
            todo.extend(vars(obj).values())
        elif isinstance(obj, (list, tuple)):
            todo.extend(obj)
        elif isinstance(obj, dict):
            todo.extend(obj.values())


def _fetch_cycles(b, base, total_rows, indices, plane, latency, log=None):
    """Cycles of one fetch in the head datapath: FETCH_REQ entered to FETCH_WAIT left.

    Cycle 0 is FETCH_REQ's, where the fetcher takes the request. The
    sequencer offers index ``k`` from cycle ``2 + k`` on (its list memory's
    read register), once the one before is taken. The
    :class:`~hw.fetcher.planner.RunPlanner` takes indices from cycle
    ``PLAN_CYCLES`` on (its request checks), one per cycle while its run
    output is free; an index that does not follow the run emits it (valid
    the next cycle), the last one emits the last run a cycle after it. The
    :class:`~hw.fetcher.issuer.BurstIssuer` takes a run when idle, offers its
    first AR ``RUN_CYCLES`` later, each further burst ``BURST_CYCLES`` after
    the one before, and is idle the cycle after its last AR. The memory gives
    a burst's first beat ``latency`` cycles after its AR, one beat per cycle,
    one burst after another, and a burst is issued only while fewer than
    ``Fetcher.outstanding`` are in flight (a burst's credit is back
    :data:`_FETCH` ``credit`` cycles after its last beat); the last row leaves
    ``Fetcher.row_latency`` after its last beat, and the sequencer leaves
    FETCH_WAIT :data:`_FETCH` ``done`` cycles later. ``log``: a list to append
    each burst's ``(AR cycle, beats)`` to.
    """
    from hw.fetcher.issuer import BurstIssuer
    from hw.fetcher.planner import RunPlanner

    from .fetch import bursts, plan

    row_bytes = b.row_bytes[1 if plane == "lsb" else 0]
    runs, _, _ = plan(base, total_rows, indices, row_bytes=row_bytes, data_bytes=b.data_bytes,
                      addr_bits=64, max_run=b.fetcher.max_run)
    if not runs:
        return _FETCH["empty"]
    issuer_idle, mem_free, last_beat = 0, 0, 0
    ends = []       # each burst's last beat: its credit comes back

    def issue(valid):
        """The run valid from cycle ``valid`` on: the cycle the issuer takes it."""
        nonlocal issuer_idle, mem_free, last_beat
        take = max(valid, issuer_idle)
        first, count = runs[issue.next]
        issue.next += 1
        ar = take + BurstIssuer.RUN_CYCLES
        for k, (_, beats) in enumerate(bursts(base + first * row_bytes, count * row_bytes, b.data_bytes)):
            ar += BurstIssuer.BURST_CYCLES if k else 0
            if len(ends) >= b.fetcher.outstanding:
                # At most ``outstanding`` bursts in flight: LIMIT waits for a credit.
                ar = max(ar, ends[-b.fetcher.outstanding] + _FETCH["credit"])
            start = max(ar + latency, mem_free)
            last_beat = start + beats - 1
            mem_free = last_beat + 1 + _FETCH["gap"]
            ends.append(last_beat)
            if log is not None:
                log.append((ar, beats))
        issuer_idle = ar + 1
        return take
    issue.next = 0

    cycle = RunPlanner.PLAN_CYCLES      # the next cycle an index may be taken
    offered = _FETCH["index"]
    # Indices, grouped by run: a run's first index after the first run's emits the one before.
    for r, (_, count) in enumerate(runs):
        for k in range(count):
            cycle = max(cycle, offered)
            if r and k == 0:
                # Emitted now, valid next cycle; the planner's output is free again once taken.
                cycle = max(cycle + 1, issue(cycle + 1))
            else:
                cycle += 1
            offered = cycle
    # FINAL: the last run, a cycle after the last index.
    issue(cycle + 1)
    return last_beat + b.fetcher.row_latency + _FETCH["done"]


#: Fetch timing not given by a block property (cycles; see :func:`_fetch_cycles`): ``index``, the
#: sequencer's list read (FETCH_REQ, then the list memory's register); ``done``, after the last row's
#: ``row_latency``: the AR register of the read arbiter (the memory counts from the shared port's
#: handshake), ``f_done`` and FETCH_WAIT's exit; ``credit``, from a burst's last beat in this
#: model's time to the AR its credit allows (the arbiter's cycle, the R beat into the assembler,
#: ``inflight`` registered, LIMIT, ISSUE); ``empty``, a fetch of no row (its terminator). ``done``
#: and ``credit`` are measured (``gen.bench_core_rtl``: each AR's cycle equal to the model's).
_FETCH = {"index": 2, "done": 4, "empty": 6, "credit": 5, "gap": 1}


def _topk_cycles(b, scores, k):
    """SELECT: the row's probabilities one per cycle into the top-k, the kept elements one per
    cycle to the kept list; cycles from SELECT entered to SELECT left."""
    return (_serial_topk(scores, k, p=b.p, n_max=b.n_max, first=_ROW["select_in"])
            + _ROW["select_out"])


def _serial_topk(scores, k, *, p, n_max, first):
    """A top-k engine fed one score per cycle (``P`` per beat, the first score at cycle ``first``)
    whose kept elements leave one per cycle: the cycle the last one leaves.

    ``golden.topk_cycles.engine_cycles`` counts from the first beat with beats
    back to back; round 1 ends with the last beat, later here by the feed's
    pace, and the later rounds and the final pass follow as there. A result
    beat leaves ``final_latency`` after its input row's turn in the final pass
    and its elements one per cycle.
    """
    from .topk_cycles import engine_cycles, final_latency

    n = len(scores)
    beats = -(-n // p)
    # Beat j is complete when its last score is in.
    arrive = [first + min(n, (j + 1) * p) - 1 for j in range(beats)]
    e = engine_cycles(scores, k, n_max=n_max, parallelism=p)
    shift = arrive[-1] - (arrive[0] + beats - 1)
    decision = arrive[0] + shift + e["select"] - 1
    out = ser = decision
    for row, count in _kept_per_row(scores, k, p):
        ready = decision + 1 + row + final_latency(n_max, p)
        ser = max(ser, ready + 1) + count
        out = ser
    return out


def _kept_per_row(scores, k, p):
    """``[(input beat, kept elements in it), ...]`` of a top-k request (the tie rule of golden.topk)."""
    scores = np.asarray(scores, dtype=np.int64)
    order = np.lexsort((np.arange(scores.size), -scores))[:k]
    rows = {}
    for i in sorted(order.tolist()):
        rows[i // p] = rows.get(i // p, 0) + 1
    return sorted(rows.items())


#: Row-level cycles of ``hw.core.head.HeadDatapath``'s sequencer beside the blocks' latencies:
#: ``fixed``, ROW, ROW_Q and KEEP / KEEP_COUNT less the cycle NVIS shares (NVIS / NVIS_CHECK: two
#: cycles per alive key the causal row adds, and one more pair; one cycle when not causal);
#: ``pass``, PASS and the key buffer's start and read register; ``drain``, DRAIN beside its
#: ``ceil(n / lanes)`` probability beats (one cycle less: the second pass's query starts while the
#: last beat drains); ``select_in`` / ``select_out``, the serializer and packer into the top-k, the
#: kept lookup (alive list read, token register, kept_done) out of it; ``pv``, PV and the V
#: lookup's two registers. Read off the FSM, then checked row by row against the RTL (the trace
#: port's cycle per output row: equal at tiny and ulx3s).
_ROW = {"fixed": 3, "pass": 3, "drain": -1, "select_in": 3, "select_out": 3, "pv": 3}


def _pass_cycles(b, n):
    """PASS and SUMMARY: the query in, the keys' beats through Q x K into the softmax, until the
    row's summary (offered with its first probability beat, ``Softmax.latency``)."""
    beats = -(-n // b.lanes)
    return _ROW["pass"] + b.qk.latency + b.softmax.latency(beats)


def _row_cycles(b, cfg, cmd, job_base, row, nvis_before, latency, stages):
    """Cycles of one query row, ROW entered to EMIT left, added per stage into ``stages``; returned."""
    before = sum(stages.values())
    _row_stages(b, cfg, cmd, job_base, row, nvis_before, latency, stages)
    return sum(stages.values()) - before


def _row_stages(b, cfg, cmd, job_base, row, nvis_before, latency, stages):
    n = row["nvis"]
    group = min(4, cfg.head_dim)
    fixed = _ROW["fixed"] + (2 * (n - nvis_before + 1) if cmd["causal"] else 1)
    if n == 0:
        stages["output"] += fixed + cfg.head_dim // group + 1
        return
    stages["qk_softmax"] += fixed + _pass_cycles(b, n)
    if row["refetch"]:
        beats = -(-n // b.lanes)
        stages["refetch"] += beats + _ROW["drain"] + _pass_cycles(b, n)
        if row["lsb_new"]:
            stages["refetch"] += 1 + _fetch_cycles(b, job_base["k_lsb"], cmd["keys"], row["lsb_new"],
                                                   "lsb", latency)
    stages["topk"] += _topk_cycles(b, row["scores"], row["keep"])
    for plane in ("msb", "lsb"):
        miss = row[f"miss_{plane}"]
        stages["fetch_v"] += 1
        if miss:
            stages["fetch_v"] += 1 + _fetch_cycles(b, job_base[f"v_{plane}"], cmd["keys"], miss, plane,
                                                   latency)
    stages["pv"] += _ROW["pv"] + row["kept"] + b.pv.latency
    stages["output"] += cfg.head_dim // group + 1


#: Command- and head-level cycles beside the blocks' latencies: ``command``, the walker's REQUEST,
#: the reader's AR through the arbiter, its record check and RUN into the layer sequencer;
#: ``pruning``, PRUNE and the ``pruned`` beat into HEAD; ``rank_in`` / ``rank_out``, the token
#: ranker's feed and its kept list out (``SequenceState``: "about c + 2"); ``head``, HEAD, JOB and
#: ALIVE; ``ingest``, the alive list's last beat to CHECK and the K fetch's start; ``job_end``,
#: IMPORTANCE's last beat, RESULT and the next HEAD beside IMPORTANCE's one cycle per alive token
#: (measured: none, they overlap the pipelined importance reads); ``finish``, FINISH and the
#: walker's last cycle; ``pruned_head``, HEAD skipping a pruned head.
_CMD = {"command": 8, "pruning": 4, "rank_in": 2, "rank_out": 2, "head": 3, "ingest": 2, "job_end": 0,
        "finish": 4, "pruned_head": 1}


def command_cycles(cfg, trace, *, latency):
    """Predicted ``CYCLES_BUSY`` of one command: ``{stage: cycles}`` over :data:`STAGES`, ``total``
    and ``rows`` (each query row's cycles, ROW entered to EMIT left, heads in order).

    ``trace`` is :func:`command_trace`'s; ``latency`` the memory's cycles from an AR
    handshake to its burst's first beat (1..500), with no stalls anywhere.
    """
    if isinstance(latency, bool) or not isinstance(latency, int) or not 1 <= latency <= 500:
        raise ValueError(f"latency must be an integer in 1..500, not {latency!r}")
    b = _blocks(cfg)
    cmd, pr, alive = trace["command"], trace["pruning"], trace["alive"]
    stages = dict.fromkeys(STAGES, 0)
    record_beats = -(-_record_bytes() // b.data_bytes)
    stages["command"] = _CMD["command"] + latency + record_beats
    stages["pruning"] = _CMD["pruning"] + _pruning_cycles(b, cmd, pr)
    n_alive = len(alive)
    row_cycles = []
    for job in trace["jobs"]:
        h = job["head"]
        base = {plane: cmd[f"{plane}_base"] + h * cmd[f"{plane}_stride"]
                for plane in ("q_msb", "q_lsb", "k_msb", "k_lsb", "v_msb", "v_lsb")}
        stages["heads"] += (_CMD["head"] + b.alive_latency + max(1, n_alive) + _CMD["ingest"]
                            + _CMD["job_end"])
        if n_alive:
            stages["fetch_k"] += 1 + _fetch_cycles(b, base["k_msb"], cmd["keys"], alive, "msb", latency)
        rows = list(range(cmd["rows"]))
        stages["fetch_q"] += 2 + _fetch_cycles(b, base["q_msb"], cmd["rows"], rows, "msb", latency) \
            + _fetch_cycles(b, base["q_lsb"], cmd["rows"], rows, "lsb", latency)
        nvis = 0
        for row in job["rows"]:
            row_cycles.append(_row_cycles(b, cfg, cmd, base, row, nvis, latency, stages))
            nvis = row["nvis"]
        stages["importance"] += max(1, n_alive)
    stages["heads"] += _CMD["pruned_head"] * (cmd["heads"] - len(trace["jobs"]))
    stages["finish"] = _CMD["finish"]
    return {**stages, "total": sum(stages.values()), "rows": row_cycles}


def _record_bytes():
    from .command import RECORD_BYTES

    return RECORD_BYTES


def _pruning_cycles(b, cmd, pr):
    """The sequence state's pruning step (``SequenceState`` latency; see its docstring)."""

    state = b.state
    keys, before = cmd["keys"], 0 if cmd["fresh"] else pr["tokens_before"]
    cycles = state.latency_unpruned(keys, before)
    if pr["alive_before"] > cmd["token_keep"]:
        # The candidates found (a scan of the keys), the request, the candidates' scores one per
        # cycle into the ranker, the kept ones out one per cycle (``SequenceState``'s docstring).
        cand = pr["candidate_scores"]
        quota = min(max(0, cmd["token_keep"] - pr["protected"]), len(cand))
        cycles += keys + 1
        if cand and quota:
            cycles += _serial_topk(cand, quota, p=state.token_lanes, n_max=b.n_max, first=_CMD["rank_in"])
        cycles += _CMD["rank_out"]
    if len(pr["head_candidates"]) > cmd["head_keep"]:
        cycles += state.HEADS_LATENCY_PRUNED - state.HEADS_LATENCY
    return cycles


_CACHE = {}


def _blocks(cfg):
    key = repr(cfg)
    if key not in _CACHE:
        _CACHE[key] = _Blocks(cfg)
        _CACHE[key].n_max = cfg.max_context
    return _CACHE[key]
