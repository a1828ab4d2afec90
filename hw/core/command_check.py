"""The checks of ``golden.command.check_command`` on a record, and the decoded command."""

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.command import (
    MAGIC,
    MAX_HEADS,
    MAX_LAYERS,
    PLANES,
    SCALE_SHIFT_MAX,
    SCALE_WORD,
    WORDS,
    Error,
    Mode,
)
from golden.formats import PROB, VALUE_KEEP

from ..params import check_int, check_pow2
from .command import ErrorCode, command_layout, record_layout, result_layout

__all__ = ["CommandCheck"]

# Bits of the head count that the region-end products use: the range rules come after
# HEADS_RANGE, so whenever they decide, heads <= MAX_HEADS.
_HEAD_BITS = MAX_HEADS.bit_length()


class CommandCheck(wiring.Component):
    """Decodes a command record and applies the rules of ``golden.command.check_command``.

    One record at a time: a record offered (with the error its fetch ended
    with, ``NONE`` normally) is read in place, without a copy: it is taken
    (``record.ready``) only when its result is, so the fetch holds it
    meanwhile. Each plane's region end ``base + heads * stride`` is computed
    by shift-and-add (one head bit per cycle), every rule's failure
    registered, then the first failing rule's code (``golden.command.Error``
    order); the result's command is the record's fields, zero when there is
    an error.

    Parameters
    ----------
    max_context, head_dim : int
        The limits of ``L_RANGE`` and ``D_RANGE``.
    data_bytes : int
        Memory port width in bytes (alignment rules), a power of two in 1..128.
    addr_bits : int
        Address space (range rules), 12..64.
    survivor_bytes : int
        Bytes of the survivor record (``golden.command.survivor_bytes(cfg)``,
        the ``RANGE_SURVIVORS`` rule), 1..2**32.

    Members
    -------
    record : In(stream.Signature({words: record_layout, error: ErrorCode}))
    result : Out(stream.Signature(result_layout(command_layout(...))))

    Latency: :attr:`latency` cycles from a record offered to its result
    offered; the record is taken with the result.
    """

    def __init__(self, *, max_context, head_dim, data_bytes, addr_bits, survivor_bytes):
        self._max_context = check_int("max_context", max_context, 1, 65536)
        self._head_dim = check_int("head_dim", head_dim, 1, 256)
        self._data_bytes = check_pow2("data_bytes", data_bytes, 1, 128)
        self._addr_bits = check_int("addr_bits", addr_bits, 12, 64)
        self._survivor_bytes = check_int("survivor_bytes", survivor_bytes, 1, 1 << 32)
        self._command = command_layout(max_context=self._max_context, head_dim=self._head_dim,
                                       addr_bits=self._addr_bits)
        super().__init__({
            "record": In(stream.Signature(data.StructLayout({"words": record_layout, "error": ErrorCode}))),
            "result": Out(stream.Signature(result_layout(self._command))),
        })

    @property
    def command(self):
        """The decoded command's layout."""
        return self._command

    @property
    def latency(self):
        """Cycles from a record offered to its result offered: the head bits, then two."""
        return _HEAD_BITS + 2

    def elaborate(self, platform):
        m = Module()
        # The record stays offered (and unchanged, the stream's rule) until its result is taken.
        words = self.record.p.words
        fetch_error = self.record.p.error
        w = [words[i] for i in range(len(words))]

        def base(plane):
            i = WORDS[f"{plane}_base"]
            return Cat(w[i], w[i + 1])

        def stride(plane):
            return w[WORDS[f"{plane}_stride"]]

        keys, rows, dim = w[WORDS["keys"]], w[WORDS["rows"]], w[WORDS["head_dim"]]
        heads, token_keep, head_keep = w[WORDS["heads"]], w[WORDS["token_keep"]], w[WORDS["head_keep"]]
        value_keep, threshold, layer = w[WORDS["value_keep"]], w[WORDS["threshold"]], w[WORDS["layer"]]
        control = w[WORDS["control"]]
        survivors = Cat(w[WORDS["survivors_base"]], w[WORDS["survivors_base"] + 1])

        # Region ends by shift-and-add over the head bits, one bit per cycle: one adder per plane,
        # its addend (the stride) doubled each cycle.
        ends = {p: Signal(64 + _HEAD_BITS + 1, name=f"end_{p}", reset_less=True) for p in PLANES}
        addends = {p: Signal(32 + _HEAD_BITS, name=f"addend_{p}", reset_less=True) for p in PLANES}
        step = Signal(range(_HEAD_BITS + 1))

        scale_ok = Cat(*((w[SCALE_WORD + h][:16] != 0) & (w[SCALE_WORD + h][16:22] <= SCALE_SHIFT_MAX)
                         | (heads <= h) for h in range(MAX_HEADS))).all()
        rules = {
            Error.MAGIC: control[16:] != MAGIC,
            # Bits 8..10 are last, fresh and causal; 11..15 are reserved.
            Error.MODE: (control[:8] > max(Mode)) | (control[11:16] != 0),
            Error.L_RANGE: (keys == 0) | (keys > self._max_context),
            Error.ROWS_RANGE: (rows == 0) | (rows > keys),
            Error.D_RANGE: (dim == 0) | (dim > self._head_dim),
            Error.HEADS_RANGE: (heads == 0) | (heads > MAX_HEADS),
            Error.LAYER_RANGE: layer >= MAX_LAYERS,
            Error.KEEP_RANGE: (token_keep == 0) | (token_keep > keys),
            Error.HEAD_KEEP_RANGE: (head_keep == 0) | (head_keep > heads),
            Error.VALUE_KEEP_RANGE: (value_keep == 0) | (value_keep > 1 << VALUE_KEEP.frac),
            Error.THRESHOLD_RANGE: threshold > 1 << PROB.frac,
            Error.SCALE_RANGE: ~scale_ok,
        }
        mask = self._data_bytes - 1
        for p in PLANES:
            extra = w[WORDS["out_row_stride"]] if p == "out" else Const(0, 32)
            rules[Error[f"ALIGN_{p.upper()}"]] = ((base(p)[:32] | stride(p) | extra) & mask) != 0
        rules[Error.ALIGN_SURVIVORS] = (survivors[:32] & mask) != 0
        for p in PLANES:
            rules[Error[f"RANGE_{p.upper()}"]] = ends[p] > (1 << self._addr_bits)
        rules[Error.RANGE_SURVIVORS] = survivors + self._survivor_bytes > (1 << self._addr_bits)
        order = sorted(rules)
        assert order == list(range(1, len(order) + 1)), "the rules must be the codes 1..n"
        failed = Signal(len(order), reset_less=True)

        result = self.result.p
        decoded = Signal(self._command)
        m.d.comb += [decoded.mode.eq(control[0]), decoded.last.eq(control[8]), decoded.fresh.eq(control[9]),
                     decoded.causal.eq(control[10]), decoded.keys.eq(keys), decoded.rows.eq(rows),
                     decoded.head_dim.eq(dim), decoded.heads.eq(heads), decoded.layer.eq(layer),
                     decoded.token_keep.eq(token_keep), decoded.head_keep.eq(head_keep),
                     decoded.value_keep.eq(value_keep), decoded.threshold.eq(threshold),
                     decoded.out_row_stride.eq(w[WORDS["out_row_stride"]]),
                     decoded.survivors_base.eq(survivors)]
        for p in PLANES:
            m.d.comb += [decoded.base[p].eq(base(p)), decoded.stride[p].eq(stride(p))]
        for h in range(MAX_HEADS):
            m.d.comb += decoded.scale[h].eq(w[SCALE_WORD + h])
        error = Signal(ErrorCode, reset_less=True)
        m.d.comb += [result.command.eq(Mux(error == Error.NONE, decoded.as_value(), 0)),
                     result.error.eq(error)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.record.valid):
                    m.d.sync += step.eq(0)
                    m.d.sync += [ends[p].eq(base(p)) for p in PLANES]
                    m.d.sync += [addends[p].eq(stride(p)) for p in PLANES]
                    m.next = "ENDS"
            with m.State("ENDS"):
                m.d.sync += step.eq(step + 1)
                m.d.sync += [addends[p].eq(addends[p] << 1) for p in PLANES]
                with m.If(heads[:_HEAD_BITS].bit_select(step, 1)):
                    m.d.sync += [ends[p].eq(ends[p] + addends[p]) for p in PLANES]
                with m.If(step == _HEAD_BITS - 1):
                    m.next = "RULES"
            with m.State("RULES"):
                m.d.sync += failed.eq(Cat(*(rules[e] for e in order)))
                m.next = "ENCODE"
            with m.State("ENCODE"):
                code = Const(Error.NONE, Shape.cast(ErrorCode))
                for index in reversed(range(len(order))):
                    code = Mux(failed[index], order[index], code)
                code = Mux(fetch_error != Error.NONE, fetch_error, code)
                m.d.sync += error.eq(code)
                m.next = "OFFER"
            with m.State("OFFER"):
                m.d.comb += [self.result.valid.eq(1), self.record.ready.eq(self.result.ready)]
                with m.If(self.result.ready):
                    m.next = "IDLE"
        return m
