"""One lane's buffer: a simple dual-port RAM split into slices of bits, each with its own read row."""

from amaranth.hdl import Cat, Module, Shape, Value
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .params import check_int

__all__ = ["LaneRam"]


class LaneRam(wiring.Component):
    """A ``depth`` x ``shape`` RAM as ``slices`` memories of at most ``slice_bits`` bits.

    On ECP5 a LUT RAM (TRELLIS_DPR16X4) holds 16 rows of 4 bits, and each
    bit of its read row drives four LUT inputs: the read row of a 32 x 16 bit
    RAM drives 32 inputs and the row multiplexers, spread over the slices
    the RAM occupies. Each slice here has its own read row (``r_addr[s]``),
    which the parent drives from its own copy of the row register, so that
    every row net stays inside a few slices.

    The tools choose the memory: on ECP5, Yosys makes up to 64 rows LUT
    RAM and deeper slices block RAM, whose unregistered read (about 5.8 ns
    from the clock on speed 6) then limits the parent's Fmax. (Forcing LUT
    RAM with ``ram_style`` breaks the iCE40 flow, which has none.)

    Parameters
    ----------
    shape : ShapeLike
        Element shape.
    depth : int
        Rows (1..65536).
    slice_bits : int
        Largest width of one slice.

    Members
    -------
    w_addr : In(range(depth)), w_data : In(shape), w_en : In(1)
        Write port: ``w_data`` is written at ``w_addr`` when ``w_en``.
    r_addr : In(ArrayLayout(range(depth), slices))
        Read row of each slice; all equal in use.
    r_data : Out(shape)
        Data at the read rows, one cycle after ``r_addr`` (latency 1, a
        synchronous read port; a write to the row in the same cycle returns
        the old value).
    """

    def __init__(self, *, shape, depth, slice_bits):
        self._shape = Shape.cast(shape)
        self._depth = check_int("depth", depth, 1, 65536)
        self._slice_bits = check_int("slice_bits", slice_bits, 1, 64)
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
        return 1

    def elaborate(self, platform):
        m = Module()
        width, step = self._shape.width, self._slice_bits
        w_bits, r_bits = Value.cast(self.w_data), []
        for s in range(self.slices):
            lo, hi = s * step, min(width, (s + 1) * step)
            mem = Memory(shape=hi - lo, depth=self._depth, init=[])
            m.submodules[f"slice{s}"] = mem
            wr, rd = mem.write_port(), mem.read_port(transparent_for=())
            m.d.comb += [wr.addr.eq(self.w_addr), wr.data.eq(w_bits[lo:hi]), wr.en.eq(self.w_en),
                         rd.addr.eq(self.r_addr[s])]
            r_bits.append(rd.data)
        m.d.comb += self.r_data.eq(Cat(*r_bits))
        return m
