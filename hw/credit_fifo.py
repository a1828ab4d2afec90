"""FIFO for a writer that holds credits, with a read handshake that drives few flip-flops."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.topk_timing import CREDIT_FIFO_LATENCY

from .params import check_int, check_pow2
from .replicate import kept_copies, replicas

__all__ = ["CreditFifo"]


class CreditFifo(wiring.Component):
    """Synchronous FIFO whose read handshake only feeds a few flags.

    The writer holds one credit per entry (``depth`` credits in all) and gets
    it back when the entry is read, so the FIFO is never written when full
    and needs no full check: ``w_en`` is the memory's write enable as it is
    (a ready signal decoded from a level would sit between the writer's
    register and every LUT-RAM cell).

    The read side is a two-slot ring of registers (A and B) in front of the
    memory. ``r_data`` is the head slot, chosen by a two-way multiplexer;
    ``r_valid`` is a flip-flop. The consumer's ``r_en`` (a late signal in a
    big design) only selects the next value of a few one-bit flags (slot
    flags, head, fill enables, ``r_valid``), each of them chosen by
    ``r_en`` between two values formed without it (``r_en`` is one LUT
    from every flag): the slots' clock enables and the memory's read
    address start at flip-flops decided a cycle ahead, so the hundreds of
    data flip-flops never wait for ``r_en``. Every wide
    signal (fill enables, head, read and write addresses) comes in one copy
    per group of at most 64 bits, so no net drives hundreds of loads.

    Parameters
    ----------
    width : int
        Bits per entry, 1..65536.
    depth : int
        Entries the writer may have in the FIFO (its credits): a power of two
        in 2..1024. The memory holds ``depth`` entries, the slots two more.

    Members
    -------
    w_en, w_data : In
        Write an entry (at most ``depth`` unread entries, by credits).
    r_valid : Out(1)
        An entry is there (a flip-flop).
    r_data : Out(width)
        The oldest entry (one of two registers, by a registered select).
    r_en : In(1)
        Read it (``r_valid & r_en`` pops; its credit goes back to the writer).

    Latency :attr:`latency` = 2 cycles from ``w_en`` to ``r_valid`` when
    empty (memory write, then the slot's load); throughput one entry per
    cycle (a slot popped in a cycle is refilled in the next one while the
    other slot is read). A credit goes round in 3 cycles (written, read 2
    cycles later, written again the cycle after), so the writer needs
    ``depth`` >= 4 to write every cycle (one more per cycle of delay in its
    credit return).

    The copies are registers with the ``keep`` attribute
    (:func:`hw.replicate.replicas`): the synthesis flow keeps them apart.
    ``r_data`` has one LUT (the multiplexer) after its flip-flops.
    """

    # Bits per copy of the slots' enables, head and the memory's addresses.
    GROUP_BITS = 64

    def __init__(self, *, width, depth):
        self._width = check_int("width", width, 1, 1 << 16)
        self._depth = check_pow2("depth", depth, 2, 1024)
        super().__init__({
            "w_en": In(1), "w_data": In(self._width),
            "r_valid": Out(1), "r_data": Out(self._width), "r_en": In(1),
        })

    width = property(lambda self: self._width)
    depth = property(lambda self: self._depth)

    # Defined with the top-k engine's other depths (golden.topk_timing).
    LATENCY = CREDIT_FIFO_LATENCY

    @property
    def latency(self):
        return self.LATENCY

    def _groups(self):
        """(low bit, bits) of each group, as even as possible, at most GROUP_BITS each."""
        n = -(-self._width // self.GROUP_BITS)
        bounds = [self._width * i // n for i in range(n + 1)]
        return [(lo, hi - lo) for lo, hi in zip(bounds, bounds[1:], strict=False)]

    def elaborate(self, platform):
        m = Module()
        groups = self._groups()
        n = len(groups)

        # Control state (one-bit flags are registers; nothing wide here).
        count = Signal(range(self._depth + 1))      # entries in the memory
        several = Signal()                          # count >= 2
        spare = Signal()                            # count - fill >= 1: one left after this cycle's fill
        full_a, full_b = Signal(), Signal()         # the slots hold an entry
        head = Signal()                             # 1: B holds the oldest entry
        fill = Signal()                             # a slot is loaded in this cycle ...
        tail_next = Signal()                        # ... and the next fill goes to B if 1
        # Slots full plus this cycle's fill (0..2) equals 2: no room for a fill
        # in the next cycle unless an entry is popped. Then a slot is full, so
        # busy implies r_valid and r_en alone says whether there is a pop.
        busy = Signal()
        several_next = Signal()

        # The slots form a ring of two: fills go to the tail, pops take the
        # head, so the head slot is full whenever any slot is. A fill in a
        # cycle is decided in the cycle before (it is a flip-flop: the clock
        # enable of a slot's data), from registers, w_en and r_en.
        w, r = self.w_en, self.r_en
        # The control reads its own copy of r_valid: the port's drives the
        # consumer's logic, which would pull it away from the flags.
        valid = Signal()
        # The memory holds an entry in the next cycle (count + w - fill >= 1),
        # formed from registers and w_en only.
        has_next = Signal()
        m.d.comb += has_next.eq(w | spare)

        def late_r(name, build):
            """``build(r_en)``, with ``r_en`` (the late input) in the last LUT only.

            Both cofactors, ``build(0)`` and ``build(1)``, are kept wires,
            and ``r_en`` selects between them: a Shannon expansion. Left to
            itself, the mapper put ``r_en`` at the start of three LUT levels.
            """
            cases = []
            for v in (0, 1):
                case = Signal(name=f"{name}_if_r{v}", attrs={"keep": 1})
                m.d.comb += case.eq(build(Const(v, 1)))
                cases.append(case)
            value = Signal(name=name)
            m.d.comb += value.eq(Mux(r, cases[1], cases[0]))
            return value

        # Fill in the next cycle: there is room unless both slots are taken
        # (with the fill under way) and no entry is popped.
        def fill_if(r):
            return has_next & (~busy | r)
        fill_next = late_r("fill_next", fill_if)
        fill_a_next = late_r("fill_a_next", lambda r: fill_if(r) & ~tail_next)
        fill_b_next = late_r("fill_b_next", lambda r: fill_if(r) & tail_next)
        head_next = late_r("head_next", lambda r: head ^ (valid & r))
        # After a pop an entry is left if both slots were full.
        valid_next = late_r("valid_next", lambda r: fill | Mux(r, full_a & full_b, valid))

        # Copies, [0] for the control logic. The slots' enables and the
        # multiplexers' selects need no reset: in the first cycle after a
        # reset a stale copy only loads an empty slot or selects r_data while
        # r_valid is low, and the next cycle's copies come from reset
        # registers. Their next values then have no reset term (5 inputs,
        # not 6). The pointers' enables (fills) keep their reset.
        fill_a = replicas(m, fill_a_next, 1, name="fill_a")
        fill_b = replicas(m, fill_b_next, 1, name="fill_b")
        fills = replicas(m, fill_next, n + 1, name="fill")
        heads = replicas(m, head_next, 1, name="head")
        for copies, value, name in [(fill_a, fill_a_next, "fill_a"), (fill_b, fill_b_next, "fill_b"),
                                    (heads, head_next, "head")]:
            unreset = Signal(name=f"{name}_next_nr", reset_less=True)
            m.d.comb += unreset.eq(value)
            copies += replicas(m, unreset, n, name=f"{name}_data")
        valids = replicas(m, valid_next, 2, name="valid")
        m.d.comb += [fill.eq(fills[0]), head.eq(heads[0]), valid.eq(valids[0]), self.r_valid.eq(valids[1])]
        m.d.sync += [
            tail_next.eq(late_r("tail_step", lambda r: tail_next ^ fill_if(r))),
            # A pop empties the head slot (full, by the ring's invariant).
            full_a.eq(late_r("full_a_next", lambda r: fill_a[0] | (full_a & (head | ~r)))),
            full_b.eq(late_r("full_b_next", lambda r: fill_b[0] | (full_b & (~head | ~r)))),
            # Slots + fill reach 2 if a fill follows and they were 2 with a pop
            # (r_en, as busy implies r_valid) or 1 without a pop (r_en low, or
            # the 1 is the fill under way: nothing to pop), or if they were 2
            # without a pop (no fill then).
            busy.eq(late_r("busy_next", lambda r: Mux(r, has_next & (busy | fill),
                                                       busy | (has_next & (fill | valid))))),
            # With a fill next cycle (room), one is left if count' >= 2.
            spare.eq(late_r("spare_next", lambda r: Mux(~busy | r, several_next, has_next))),
        ]

        # count' = count + w_en - fill, from registers and w_en (fill is a
        # flip-flop), and the flags from compares of the old count.
        up, down = Signal.like(count), Signal.like(count)
        m.d.comb += [up.eq(count + 1), down.eq(count - 1)]
        # The compares as gates on the bits (Yosys maps `>=` to a carry chain).
        high = Signal()
        m.d.comb += high.eq(count[2:].any())
        ge3 = high | (count[0] & count[1])
        eq2 = ~high & count[1] & ~count[0]
        eq1 = ~high & ~count[1] & count[0]
        m.d.comb += several_next.eq(Mux(fill, ge3 | (eq2 & w), several | (eq1 & w)))
        m.d.sync += [
            count.eq(Mux(fill, Mux(w, count, down), Mux(w, up, count))),
            several.eq(several_next),
        ]

        # Data: one memory, pair of slots and copy of every enable and
        # address per group. The pointers count in every copy alike.
        r_data = []
        produces = kept_copies(range(self._depth), len(groups), name="produce")
        consumes = kept_copies(range(self._depth), len(groups), name="consume")
        for g, (lo, bits) in enumerate(groups):
            storage = Memory(shape=bits, depth=self._depth, init=[])
            m.submodules[f"storage{g}"] = storage
            w_port = storage.write_port()
            r_port = storage.read_port(domain="comb")
            produce, consume = produces[g], consumes[g]
            # Data needs no reset (the flags say what is valid): the reset
            # net then does not reach hundreds of flip-flops.
            slot_a = Signal(bits, name=f"slot_a{g}", reset_less=True)
            slot_b = Signal(bits, name=f"slot_b{g}", reset_less=True)
            m.d.comb += [
                w_port.addr.eq(produce), w_port.data.eq(self.w_data[lo:lo + bits]), w_port.en.eq(w),
                r_port.addr.eq(consume),
            ]
            with m.If(w):
                m.d.sync += produce.eq(produce + 1)      # depth is a power of two: wraps
            with m.If(fills[1 + g]):
                m.d.sync += consume.eq(consume + 1)
            with m.If(fill_a[1 + g]):
                m.d.sync += slot_a.eq(r_port.data)
            with m.If(fill_b[1 + g]):
                m.d.sync += slot_b.eq(r_port.data)
            r_data.append(Mux(heads[1 + g], slot_b, slot_a))
        m.d.comb += self.r_data.eq(Cat(*r_data))
        return m
