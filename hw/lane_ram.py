"""One lane's buffer: a simple dual-port RAM split into slices of bits, each with its own read row."""

from amaranth.hdl import Cat, Module, Shape, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.topk_timing import lane_ram_latency

from .params import check_bool, check_int

__all__ = ["LaneRam"]


class LaneRam(wiring.Component):
    """A ``depth`` x ``shape`` RAM as ``slices`` memories of at most ``slice_bits`` bits.

    On ECP5 a LUT RAM (TRELLIS_DPR16X4) holds 16 rows of 4 bits, and each
    bit of its read row drives four LUT inputs: the read row of a 32 x 16 bit
    RAM drives 32 inputs and the row multiplexers, spread over the slices
    the RAM occupies. Each slice here has its own read row (``r_addr[s]``),
    which the parent drives from its own copy of the row register, so that
    every row net stays inside a few slices.

    With ``block``, each slice is a block RAM (``ram_style = "block"``:
    ECP5 DP16KD, iCE40 SB_RAM40_4K): for deep buffers, where LUT RAM needs a
    wide row multiplexer after it (at 128 rows, 8:1 after the LUT RAM,
    about 167 MHz on ECP5 speed 6). Its read data comes about 5.8 ns after
    the clock on ECP5: the parent registers it before any logic. A read of
    the row written in the same cycle is then undefined (``no_rw_check``):
    the parent must not use such a read. Otherwise the tools choose (Yosys
    0.70 makes 128 x 8 bit LUT RAM on ECP5; forcing LUT RAM with
    ``ram_style`` breaks the iCE40 flow, which has none).

    Parameters
    ----------
    shape : ShapeLike
        Element shape.
    depth : int
        Rows (1..65536).
    slice_bits : int
        Largest width of one slice.
    block : bool
        Put every slice in block RAM.

    Members
    -------
    w_addr : In(range(depth)), w_data : In(shape), w_en : In(1)
        Write port: ``w_data`` is written at ``w_addr`` when ``w_en``.
    r_addr : In(ArrayLayout(range(depth), slices))
        Read row of each slice; all equal in use.
    r_data : Out(shape)
        Data at the read rows, :attr:`latency` cycles after ``r_addr`` (a
        synchronous read port, with ``block`` a landing register after it;
        a write to the row in the read's first cycle returns the old value,
        or with ``block`` an undefined one).
    """

    def __init__(self, *, shape, depth, slice_bits, block=False):
        self._shape = Shape.cast(shape)
        self._depth = check_int("depth", depth, 1, 65536)
        self._slice_bits = check_int("slice_bits", slice_bits, 1, 64)
        self._block = check_bool("block", block)
        super().__init__({
            "w_addr": In(range(self._depth)),
            "w_data": In(shape),
            "w_en": In(1),
            "r_addr": In(data.ArrayLayout(range(self._depth), self.slices)),
            "r_data": Out(shape),
        })

    @property
    def slices(self):
        return -(-self._shape.width // self._slice_bits)

    @property
    def latency(self):
        """Read latency: 1, or 2 with ``block`` (the read data's landing register)."""
        return self.latency_of(block=self._block)

    @staticmethod
    def latency_of(*, block):
        """:attr:`latency` of an instance built with ``block`` (for a parent's own latency)."""
        return lane_ram_latency(block)

    def elaborate(self, platform):
        m = Module()
        width, step = self._shape.width, self._slice_bits
        w_bits, r_bits = Value.cast(self.w_data), []
        for s in range(self.slices):
            lo, hi = s * step, min(width, (s + 1) * step)
            # no_rw_check: Yosys otherwise adds logic after the block RAM's
            # read data to return the old value on a read and write of one
            # row in one cycle (ports A and B of a DP16KD collide there).
            attrs = {"ram_style": "block", "no_rw_check": 1} if self._block else None
            mem = Memory(shape=hi - lo, depth=self._depth, init=[], attrs=attrs)
            m.submodules[f"slice{s}"] = mem
            wr, rd = mem.write_port(), mem.read_port(transparent_for=())
            m.d.comb += [wr.addr.eq(self.w_addr), wr.data.eq(w_bits[lo:hi]), wr.en.eq(self.w_en),
                         rd.addr.eq(self.r_addr[s])]
            r_bits.append(rd.data)
        if self._block:
            # The read data lands in flip-flops with no other load, which
            # the placer can put beside the block RAM (a register with loads
            # elsewhere is pulled toward them, away from the RAM).
            landing = Signal(self._shape, name="landing", reset_less=True)
            m.d.sync += landing.eq(Cat(*r_bits))
            m.d.comb += self.r_data.eq(landing)
        else:
            m.d.comb += self.r_data.eq(Cat(*r_bits))
        return m
