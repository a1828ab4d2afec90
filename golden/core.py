"""The SpAtten core as a machine over a DRAM image: the golden model of the command list.

:class:`CoreModel` holds what the core keeps between commands (and between
``CTRL.start``\\ s, until a ``fresh`` command or :meth:`CoreModel.reset`, the
soft reset): the tokens of the sequence, their alive bits and
``TOKEN_IMPORTANCE`` accumulators, the ``HEAD_IMPORTANCE`` accumulator of
each head and the head alive masks, ``MAX_LAYERS x MAX_HEADS``.
:meth:`CoreModel.run` walks ``count`` records from ``cmd_ptr`` as the core
does (``golden.command``), writes into the image what the core writes, and
returns a :class:`CoreStatus`.

Per command, in order:

1. Read the record (``ALIGN_CMD`` if its address is not a multiple of
   ``RECORD_BYTES`` or beyond the address space: nothing read;
   ``CMD_READ`` if it lies beyond the image), :func:`check_command`, then
   ``KEYS_SHRINK`` (keys below the sequence's tokens without ``fresh``). An
   error stops the list there; the failed command writes nothing and
   changes no state.
2. ``fresh``: forget the sequence. New tokens (``keys`` above the
   sequence's) are alive with importance 0.
3. Token pruning: :func:`golden.pruning.prune_step` of the alive tokens to
   ``token_keep`` by importance, the first ``cfg.token_protect_sinks`` and
   the newest ``cfg.token_protect_recent`` kept in causal commands. Head
   pruning: the same to ``head_keep`` by head importance among
   ``head_alive[layer] & head_alive[layer - 1]`` (layer 0: its own),
   the result becoming ``head_alive[layer]``. This is
   ``SpattenAttention._prune`` with the targets the host computed.
4. The survivor record (:func:`golden.command.pack_survivors`) at
   ``survivors_base``.
5. Each alive head in order: its Q, K, V planes read (K and V: the alive
   rows only; the others do not matter), :func:`golden.head.head_job`,
   its output rows written, its token and head importance added
   (saturating). Pruned heads write nothing.

A read beyond the image is a decode error (``DATA_READ``), a write beyond
it ``OUT_WRITE``: the command stops at that access; what it wrote and the
state it changed up to there stay (the hardware, too, has no undo).

**Counters** (:data:`COUNTERS`, the names of ``hw.core.regmap.COUNTERS``),
64-bit saturating, in total from each :meth:`run` and per command
(``layer_counters``: the last command finished without error, like the
``LAYER_*`` registers). ``BYTES_READ_CMD`` counts ``RECORD_BYTES`` per
record read (rejected ones too); ``BYTES_READ_Q`` the rows of both Q planes
of every head run; ``BYTES_READ_K_*`` / ``BYTES_READ_V_*``, ``MACS``
(``macs_qk + macs_pv``) and ``ROWS_REFETCHED`` the head jobs' counters;
``BYTES_WRITTEN`` ``out_row_bytes(cfg.head_dim, value_bits)`` per output
row and per survivor record row; ``TOKENS_PRUNED`` / ``HEADS_PRUNED`` what
each command's step pruned; ``COMMANDS_DONE`` the commands finished
without error. The cycle counters ``CYCLES_BUSY`` and ``CYCLES_STALLED``
are not modelled: they stay 0 here.

The core does not normalise importances and has no per-token V scales or V
centres: a cfg with ``token_importance_norm``, ``v_scale="token"`` or
``v_zero_point`` is refused (``ValueError`` naming the field). K scales
per channel (with centres) and V scales per channel act on the host only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .command import (
    MAX_HEADS,
    MAX_LAYERS,
    RECORD_BYTES,
    Error,
    check_command,
    out_row_bytes,
    pack_survivors,
    survivor_rows,
    unpack_command,
)
from .formats import HEAD_IMPORTANCE, OUT_FRAC, TOKEN_IMPORTANCE
from .head import head_job
from .pruning import protect_mask, prune_step, sat_add
from .quant import join_planes, pack_plane, row_bytes, unpack_plane

__all__ = ["COUNTERS", "CoreStatus", "CoreModel", "check_core_cfg"]

#: The core's counters, as ``hw.core.regmap.COUNTERS`` names them (in its order).
COUNTERS = ("CYCLES_BUSY", "CYCLES_STALLED", "BYTES_READ_CMD", "BYTES_READ_Q", "BYTES_READ_K_MSB",
            "BYTES_READ_K_LSB", "BYTES_READ_V_MSB", "BYTES_READ_V_LSB", "BYTES_WRITTEN", "MACS",
            "ROWS_REFETCHED", "TOKENS_PRUNED", "HEADS_PRUNED", "COMMANDS_DONE")
_COUNTER_MAX = (1 << 64) - 1
#: Traffic options the core cannot run, and the value each must have.
_UNSUPPORTED = (("token_importance_norm", False), ("v_zero_point", False))


def check_core_cfg(cfg):
    """Raise ``ValueError`` naming the field when ``cfg`` asks for what the core does not compute."""
    for name, off in _UNSUPPORTED:
        if getattr(cfg, name, off) != off:
            raise ValueError(f"cfg.{name} must be {off!r} for the core (not supported), "
                             f"not {getattr(cfg, name)!r}")
    if getattr(cfg, "v_scale", "tensor") == "token":
        raise ValueError("cfg.v_scale must be 'tensor' or 'channel' for the core (per-token V scales "
                         "are not supported), not 'token'")
    return cfg


@dataclass(frozen=True)
class CoreStatus:
    """How a :meth:`CoreModel.run` ended: ``done``, or ``error`` at command ``command``.

    ``command``: the failed command's index, else the last command's that ran
    (0 for an empty list), as ``STATUS.command`` shows it.
    """
    done: bool
    error: Error
    command: int


class _Fault(Exception):
    """An access beyond the memory image: the command stops with ``code``."""

    def __init__(self, code):
        super().__init__(code.name)
        self.code = code


class CoreModel:
    """The core over a DRAM image (see the module docstring).

    Parameters
    ----------
    cfg : SpattenConfig

    Members
    -------
    counters : dict name -> int, totals of the last :meth:`run`
    layer_counters : dict name -> int, counts of the last command finished without error
    results : list of dict, one per command that passed its checks (stopped ones too), cumulative
        until :meth:`reset`: ``index``, ``command``, ``error``, ``token_alive`` (keys,),
        ``head_alive`` (heads,), ``tokens_kept``, ``heads_kept``, ``refetch`` and
        ``values_kept`` (heads, rows), ``out`` (heads, rows, head_dim) codes (zero for pruned
        heads), ``counters``, ``jobs`` (head -> its ``golden.head.head_job`` answer), ``pruning``
        (the state the pruning step saw: ``tokens_before``, ``alive_before``, ``token_score``,
        ``protect``, ``head_candidates``, ``head_score``)
    decoded : the last command the record check passed (``None`` after a rejected record)
    token_alive, token_score, head_alive (MAX_LAYERS, MAX_HEADS), head_score (MAX_HEADS,)
    """

    def __init__(self, cfg):
        self._cfg = check_core_cfg(cfg)
        self.reset()

    def reset(self):
        """The soft reset: the sequence forgotten, counters and results cleared."""
        self._forget()
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.layer_counters = dict.fromkeys(COUNTERS, 0)
        self.results = []
        self.decoded = None

    def _forget(self):
        self._token_alive = np.zeros(0, dtype=bool)
        self._token_score = np.zeros(0, dtype=np.int64)
        self._head_alive = np.ones((MAX_LAYERS, MAX_HEADS), dtype=bool)
        self._head_score = np.zeros(MAX_HEADS, dtype=np.int64)

    token_alive = property(lambda self: self._token_alive.copy())
    token_score = property(lambda self: self._token_score.copy())
    head_alive = property(lambda self: self._head_alive.copy())
    head_score = property(lambda self: self._head_score.copy())

    # -- the command list -------------------------------------------------------------------

    def run(self, memory, cmd_ptr, count):
        """Run ``count`` commands from ``cmd_ptr`` on ``memory`` (bytearray-like, written in place)."""
        cfg = self._cfg
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.layer_counters = dict.fromkeys(COUNTERS, 0)
        for i in range(count):
            addr = cmd_ptr + i * RECORD_BYTES
            if addr % RECORD_BYTES or addr >> cfg.axi_addr_bits:
                self.decoded = None
                return CoreStatus(False, Error.ALIGN_CMD, i)
            counts = dict.fromkeys(COUNTERS, 0)
            self._count(counts, "BYTES_READ_CMD", RECORD_BYTES)
            if addr + RECORD_BYTES > len(memory):
                self.decoded = None
                return self._stop(counts, Error.CMD_READ, i)
            words = np.frombuffer(bytes(memory[addr:addr + RECORD_BYTES]), dtype="<u4")
            error = check_command(words, cfg)
            if error is not Error.NONE:
                self.decoded = None
                return self._stop(counts, error, i)
            cmd = self.decoded = unpack_command(words)
            if not cmd.fresh and cmd.keys < self._token_alive.size:
                return self._stop(counts, Error.KEYS_SHRINK, i)
            result = self._start(cmd, i, counts)
            try:
                self._execute(memory, cmd, counts, result)
            except _Fault as fault:
                return self._stop(counts, fault.code, i, result)
            self._count(counts, "COMMANDS_DONE", 1)
            self._merge(counts)
            self.layer_counters = counts
            if cmd.last:
                return CoreStatus(True, Error.NONE, i)
        return CoreStatus(True, Error.NONE, max(count - 1, 0))

    def _stop(self, counts, error, index, result=None):
        self._merge(counts)
        if result is not None:
            result["error"] = error
        return CoreStatus(False, error, index)

    @staticmethod
    def _count(counts, name, value):
        counts[name] = min(counts[name] + int(value), _COUNTER_MAX)

    def _merge(self, counts):
        for name, value in counts.items():
            self._count(self.counters, name, value)

    # -- one command ------------------------------------------------------------------------

    def _start(self, cmd, index, counts):
        """The command's entry in :attr:`results`, filled as it runs."""
        heads, rows = cmd.heads, cmd.rows
        result = {"index": index, "command": cmd, "error": None,
                  "refetch": np.zeros((heads, rows), dtype=bool),
                  "values_kept": np.zeros((heads, rows), dtype=np.int64),
                  "out": np.zeros((heads, rows, self._cfg.head_dim), dtype=np.int64), "counters": counts,
                  "jobs": {}}
        self.results.append(result)
        return result

    def _execute(self, memory, cmd, counts, result):
        cfg = self._cfg
        if cmd.fresh:
            self._forget()
        new = cmd.keys - self._token_alive.size
        self._token_alive = np.concatenate([self._token_alive, np.ones(new, dtype=bool)])
        self._token_score = np.concatenate([self._token_score, np.zeros(new, dtype=np.int64)])

        before = int(self._token_alive.sum())
        protect = (protect_mask(cmd.keys, getattr(cfg, "token_protect_sinks", 0),
                                getattr(cfg, "token_protect_recent", 0)) if cmd.causal else None)
        result["pruning"] = {"tokens_before": self._token_alive.size - new,
                             "alive_before": self._token_alive.copy(),
                             "token_score": self._token_score.copy(),
                             "protect": np.zeros(cmd.keys, bool) if protect is None else protect.copy()}
        self._token_alive = prune_step(self._token_score, self._token_alive, cmd.token_keep, protect)
        alive = self._token_alive.copy()
        self._count(counts, "TOKENS_PRUNED", before - int(alive.sum()))
        layer, heads = cmd.layer, cmd.heads
        cand = self._head_alive[layer, :heads] & (self._head_alive[layer - 1, :heads] if layer else True)
        result["pruning"].update(head_candidates=cand.copy(), head_score=self._head_score[:heads].copy())
        kept = prune_step(self._head_score[:heads], cand, cmd.head_keep)
        self._head_alive[layer, :heads] = kept
        self._count(counts, "HEADS_PRUNED", int(cand.sum()) - int(kept.sum()))
        result.update(token_alive=alive, head_alive=kept.copy(), tokens_kept=int(alive.sum()),
                      heads_kept=int(kept.sum()))
        row = out_row_bytes(cfg.head_dim, cfg.value_bits)
        for offset, data in pack_survivors(cfg, kept, alive):
            self._write(memory, cmd.survivors_base + offset, data)
        self._count(counts, "BYTES_WRITTEN", survivor_rows(cfg) * row)
        idx = np.flatnonzero(alive)
        for h in np.flatnonzero(kept):
            self._head(memory, cmd, int(h), idx, counts, result)

    def _head(self, memory, cmd, h, idx, counts, result):
        cfg = self._cfg
        all_rows = np.arange(cmd.rows)
        q = self._plane(memory, cmd, "q", h, all_rows, cmd.rows)
        k = self._plane(memory, cmd, "k", h, idx, cmd.keys)
        v = self._plane(memory, cmd, "v", h, idx, cmd.keys)
        m, sh = cmd.scales[h]
        res = head_job(cfg, q=q, k=k, v=v, m=m, sh=sh, alive=idx.tolist(), causal=cmd.causal,
                       value_keep_code=cmd.value_keep, threshold_code=cmd.threshold)
        out = np.zeros((cmd.rows, cfg.head_dim), dtype=np.int64)
        out[:, :cmd.head_dim] = res["out"]
        packed = pack_plane(out, cfg.value_bits + OUT_FRAC, signed=True)
        base = cmd.out_base + h * cmd.out_stride
        for i in range(cmd.rows):
            self._write(memory, base + i * cmd.out_row_stride, packed[i].tobytes())
        c = res["counters"]
        q_row = row_bytes(cfg.head_dim, cfg.msb_bits) + row_bytes(cfg.head_dim, cfg.lsb_bits)
        for name, value in (("BYTES_READ_Q", cmd.rows * q_row), ("BYTES_READ_K_MSB", c["dram_bytes_k_msb"]),
                            ("BYTES_READ_K_LSB", c["dram_bytes_k_lsb"]),
                            ("BYTES_READ_V_MSB", c["dram_bytes_v_msb"]),
                            ("BYTES_READ_V_LSB", c["dram_bytes_v_lsb"]),
                            ("MACS", c["macs_qk"] + c["macs_pv"]), ("ROWS_REFETCHED", c["rows_refetched"]),
                            ("BYTES_WRITTEN", cmd.rows * packed.shape[1])):
            self._count(counts, name, value)
        self._token_score[idx] = sat_add(self._token_score[idx], res["importance"], TOKEN_IMPORTANCE)
        self._head_score[h] = sat_add(self._head_score[h:h + 1], [res["head_importance"]], HEAD_IMPORTANCE)[0]
        result["refetch"][h], result["values_kept"][h], result["out"][h] = res["refetch"], res["kept"], out
        result["jobs"][h] = res

    def _plane(self, memory, cmd, name, h, rows, n):
        """Codes ``(n, head_dim)`` of head ``h``'s ``name`` planes joined, the ``rows`` read, others 0."""
        cfg = self._cfg
        codes = np.zeros((n, cmd.head_dim), dtype=np.int64)
        planes = []
        for part, bits, signed in (("msb", cfg.msb_bits, True), ("lsb", cfg.lsb_bits, False)):
            base = getattr(cmd, f"{name}_{part}_base") + h * getattr(cmd, f"{name}_{part}_stride")
            nbytes = row_bytes(cfg.head_dim, bits)
            raw = np.stack([np.frombuffer(self._read(memory, base + int(j) * nbytes, nbytes), np.uint8)
                            for j in rows]) if len(rows) else np.zeros((0, nbytes), np.uint8)
            planes.append(unpack_plane(raw, bits, cfg.head_dim, signed=signed))
        codes[rows] = join_planes(planes[0], planes[1], cfg.lsb_bits)[:, :cmd.head_dim]
        return codes

    @staticmethod
    def _read(memory, addr, nbytes):
        if addr + nbytes > len(memory):
            raise _Fault(Error.DATA_READ)
        return bytes(memory[addr:addr + nbytes])

    @staticmethod
    def _write(memory, addr, data):
        if addr + len(data) > len(memory):
            raise _Fault(Error.OUT_WRITE)
        memory[addr:addr + len(data)] = data
