"""The top-k engine's part writer: one part of a round, packed and written into its banks."""

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.topk_timing import WRITE_REGISTERS, rotate_layers

from ..replicate import kept_copies
from ..zero_eliminator import ZeroEliminator
from .geometry import check_geometry
from .lane_buffer import buffer_write
from .rotate import rotate

__all__ = ["PartWriter"]


class PartWriter(wiring.Component):
    """Packs one part of each beat of a round (zero eliminator) and writes it at the part's fill offset.

    The part's elements go into ``P`` one-element-wide banks in order:
    element ``i`` of the part at row ``i // P`` of bank ``i mod P``. A beat's
    packed lanes are rotated by the fill offset (``rotate``) into bank order.
    The offset is computed from the zero eliminator's early count, in
    parallel with its two-stage shifter (the shifter in one cycle is too
    long a path); the banks' enables and rows are registered in the
    shifter's second stage, and the rotated lane is registered before the
    memory. The next round reads a part from row 0 and rewrites its own
    banks from row 0: its writes trail its reads by the pipeline.

    Parameters
    ----------
    geometry : TopKGeometry

    Members
    -------
    valid, data, keep : In
        A compared beat and this part's lanes of it.
    first : In(G)
        The round's first beat, aligned with the early count, one copy per
        lane group: it restarts the size, the fill and the rows masks.
    early_valid, early_count : Out
        The zero eliminator's early count of the beat (the part's size per beat).
    size : Out(count_bits)
        Elements of the part so far in this round, a cycle after the early count.
    rows_masks : Out(ArrayLayout(mask, G))
        The rows below the largest power of two <= the part's full rows (the
        next round's sample rows, an AND mask), a cycle after ``size``, one
        copy per lane group.
    write : Out(:func:`hw.topk.lane_buffer.buffer_write`)
        :attr:`write_latency` cycles after the early count.
    """

    def __init__(self, *, geometry):
        self._geometry = g = check_geometry(geometry)
        P, G = g.lanes, g.broadcast_copies
        super().__init__({
            "valid": In(1), "data": In(data.ArrayLayout(g.shape, P)), "keep": In(P), "first": In(G),
            "early_valid": Out(1), "early_count": Out(range(P + 1)), "size": Out(g.count_bits),
            "rows_masks": Out(data.ArrayLayout(unsigned(g.mask_bits), G)), "write": Out(buffer_write(g)),
        })

    @property
    def early_latency(self):
        return ZeroEliminator.EARLY_LATENCY

    @property
    def write_latency(self):
        """Cycles from the early count to the write: the rest of the shifter, then the rotation's
        layers (the last of them the rotated lane's register before the memory)."""
        return WRITE_REGISTERS + rotate_layers(self._geometry.lanes)

    def elaborate(self, platform):
        m = Module()
        g = self._geometry
        P, G, lp, cb, shape = g.lanes, g.broadcast_copies, g.lane_bits, g.count_bits, g.shape
        # Each early count in 1 + G copies: one for the part's size and fill,
        # one per COPY_LANES columns' fill offsets.
        m.submodules.ze = ze = ZeroEliminator(lanes=P, shape=shape, split=True, early_copies=1 + G)
        m.d.comb += [ze.i_valid.eq(self.valid), ze.i_data.eq(self.data), ze.i_keep.eq(self.keep),
                     self.early_valid.eq(ze.early_valid), self.early_count.eq(ze.early_count)]
        first = self.first
        size = Signal(cb, name="acc")
        restart = Signal(name="acc_restart")
        m.d.sync += restart.eq(ze.early_valid & first[0])
        with m.If(ze.early_valid):
            # The first-beat select after the adder, not before it.
            m.d.sync += size.eq(Mux(first[0], ze.early_count, size + ze.early_count))
        m.d.comb += self.size.eq(size)
        # Bit b of a rows mask is set if the part has at least 2 ** (b + 1)
        # full rows. A beat adds at most P elements, so the full rows grow by
        # at most one per cycle from 0: the bit is a sticky copy of bit
        # b + 1 of the full rows, cleared in the cycle after the size
        # restarts. (As an OR of the bits above, ABC shares the ORs into a
        # chain of LUTs, one per bit.)
        full = size[lp:]
        for copy in range(G):
            mask = Signal(len(full), name=f"mask{copy}", attrs={"keep": 1})
            m.d.sync += mask.eq(Mux(restart, 0, mask) | full[1:])
            m.d.comb += self.rows_masks[copy].eq(mask)

        fill = Signal(cb + 1, name="fill")
        # The beat's base, count and valid in one copy per group of columns
        # (one register for the row adders and enables of every column is a long route).
        m1_bases = kept_copies(cb + 1, G, name="m1_base", reset_less=True)
        m1_cnts = kept_copies(range(P + 1), G, name="m1_cnt", reset_less=True)
        m1_valids = kept_copies(1, G, name="m1_valid")
        with m.If(ze.early_valid):
            m.d.sync += fill.eq(Mux(first[0], ze.early_count, fill + ze.early_count))
        for copy in range(G):
            # The beat's base: 0 on the round's first beat, else the fill.
            m.d.sync += [m1_bases[copy].eq(Mux(first[copy], 0, fill)),
                         m1_cnts[copy].eq(ze.early_counts[1 + copy]),
                         m1_valids[copy].eq(ze.early_valids[1 + copy])]
        # The fill offset mod P in one copy per column: each copy is its own
        # accumulator, so that Yosys cannot merge the copies into one
        # register whose fanout (every rotate multiplexer of a layer) is too
        # wide. One copy per ROTATE_GROUP columns drives the rotation.
        offs, bases_lo = [], []
        for j in range(P):
            copy = g.group(j, G)
            acc_lo = Signal(lp, name=f"fill_lo{j}", reset_less=True)   # restarted by each round's first beat
            base_lo = Mux(first[copy], 0, acc_lo)
            with m.If(ze.early_valids[1 + copy]):
                count = ze.early_counts[1 + copy]
                m.d.sync += acc_lo.eq(Mux(first[copy], count, acc_lo + count))
            bases_lo.append(base_lo)
            if j % g.ROTATE_GROUP == 0:
                # Delayed to the rotation stage, beside the shifter.
                off = base_lo
                for i in range(ze.latency - ze.early_latency):
                    off_d = Signal(lp, name=f"off{j}_{i}", reset_less=True)
                    m.d.sync += off_d.eq(off)
                    off = off_d
                offs.append(off)
        lanes = rotate(m, [ze.o_data[lane] for lane in range(P)],
                       [offs[j // g.ROTATE_GROUP] for j in range(P)], "rot")
        for j in range(P):
            copy = g.group(j, G)
            # Bank j takes packed lane (j - offset) mod P, if that lane is
            # kept: its position after the offset and whether it wraps into
            # the next row, registered a stage ahead of the compare.
            m1_rel = Signal(lp, name=f"m1_rel{j}", reset_less=True)
            m1_wrap = Signal(name=f"m1_wrap{j}", reset_less=True)
            m.d.sync += [m1_rel.eq(Const(j, lp) - bases_lo[j]), m1_wrap.eq(j < bases_lo[j])]
            w2_en = Signal(name=f"w2_en{j}")
            w2_addr = Signal(g.row_bits, name=f"w2_addr{j}", reset_less=True)
            m.d.sync += [w2_en.eq(m1_valids[copy] & (m1_rel < m1_cnts[copy])),
                         w2_addr.eq(m1_bases[copy][lp:] + m1_wrap)]
            # The enable and row wait beside the rotation's registers.
            for i in range(rotate_layers(P) - 1):
                en_d = Signal(name=f"w2_en{j}_{i}")
                addr_d = Signal(g.row_bits, name=f"w2_addr{j}_{i}", reset_less=True)
                m.d.sync += [en_d.eq(w2_en), addr_d.eq(w2_addr)]
                w2_en, w2_addr = en_d, addr_d
            # The rotated lane registered before the memory, with its enable and row.
            w2_data = Signal(shape, name=f"w2_data{j}", reset_less=True)
            w3_en = Signal(name=f"w3_en{j}")
            w3_addr = Signal(g.row_bits, name=f"w3_addr{j}", reset_less=True)
            m.d.sync += [w2_data.eq(lanes[j]), w3_en.eq(w2_en), w3_addr.eq(w2_addr)]
            m.d.comb += [self.write.data[j].eq(w2_data), self.write.en[j].eq(w3_en),
                         self.write.addr[j].eq(w3_addr)]
        return m
