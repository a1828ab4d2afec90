"""A top-k buffer: ``P`` one-element-wide memories, one per lane (the input buffer, a bank set)."""

from amaranth.hdl import Module, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..lane_ram import LaneRam
from .geometry import check_geometry

__all__ = ["LaneBuffer", "buffer_write", "buffer_read"]


def buffer_write(geometry):
    """The write side of a :class:`LaneBuffer`, as its writer drives it: per lane a row, data, enable."""
    return wiring.Signature({
        "addr": Out(data.ArrayLayout(unsigned(geometry.row_bits), geometry.lanes)),
        "data": Out(data.ArrayLayout(geometry.shape, geometry.lanes)),
        "en": Out(geometry.lanes),
    })


def buffer_read(geometry):
    """The read side of a :class:`LaneBuffer`, as its reader drives it: per lane and slice a row."""
    rows = data.ArrayLayout(unsigned(geometry.row_bits), geometry.slices)
    return wiring.Signature({
        "rows": Out(data.ArrayLayout(rows, geometry.lanes)),
        "data": In(data.ArrayLayout(geometry.shape, geometry.lanes)),
    })


class LaneBuffer(wiring.Component):
    """``P`` :class:`hw.lane_ram.LaneRam` s of ``rows`` elements, one per lane.

    Each lane has its own write row and enable and its own read row per
    memory slice, so that no row register drives every memory of the
    buffer. LUT RAM in slices of ``RAM_SLICE_BITS`` bits, or block RAM (one
    slice) when the buffer is deeper than ``LUT_RAM_ROWS``.

    Parameters
    ----------
    geometry : TopKGeometry

    Members
    -------
    write : In(:func:`buffer_write`)
    read : In(:func:`buffer_read`)
        Data at the rows :attr:`latency` cycles after them. A read of the
        row written in the same cycle is undefined with block RAM: the
        engine never uses one.
    """

    def __init__(self, *, geometry):
        self._geometry = check_geometry(geometry)
        super().__init__({"write": In(buffer_write(geometry)), "read": In(buffer_read(geometry))})

    @property
    def latency(self):
        return LaneRam.latency_of(block=self._geometry.block_ram)

    def elaborate(self, platform):
        m = Module()
        g = self._geometry
        for lane in range(g.lanes):
            ram = LaneRam(shape=g.shape, depth=g.rows, block=g.block_ram, slice_bits=g.slice_bits)
            m.submodules[f"lane{lane}"] = ram
            m.d.comb += [ram.w_addr.eq(self.write.addr[lane]), ram.w_data.eq(self.write.data[lane]),
                         ram.w_en.eq(self.write.en[lane]), self.read.data[lane].eq(ram.r_data),
                         *[ram.r_addr[s].eq(self.read.rows[lane][s]) for s in range(g.slices)]]
        return m
