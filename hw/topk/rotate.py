"""The rotation of a beat's lanes into the banks at their fill offset (top-k part writer).

A part's packed elements go into ``P`` one-element-wide banks at a rotating
fill offset: lane ``j`` of the written row takes packed element
``(j - offset) mod P``. :func:`rotate` builds that rotation as layers of 4:1
multiplexers with registers between them.
"""

from amaranth.hdl import Signal

from golden.topk_timing import rotate_layers

__all__ = ["rotate", "rotate_layers"]


def rotate(m, lanes, amounts, name):
    """Lane ``j`` of the result is ``lanes[(j - a) % P]``: 4:1 multiplexer layers.

    Registered between layers: the result is ``rotate_layers(P) - 1`` cycles
    after ``lanes`` and ``amounts`` (the amounts of later layers are delayed
    beside the data).

    ``amounts[j]`` is a copy of the rotation amount ``a`` that drives the
    multiplexers of output column ``j`` only (one select net per column
    instead of one per layer for all ``P`` lanes of every bit). Each layer
    rotates by two bits of ``a`` (a 4:1 multiplexer: two LUT4 and a PFUMX on
    ECP5; a last single bit takes a 2:1 layer), and its outputs are kept
    wires: without them the LUT mapper, seeing a distinct select per column,
    flattens every output into its own 16:1 multiplexer (twice the LUTs and
    far more routing) instead of sharing the layers. Both layers of P = 16
    in one cycle would be a slow path.
    """
    P = len(lanes)
    bits = P.bit_length() - 1
    b = 0
    while b < bits:
        step = min(2, bits - b)
        last = b + step >= bits
        nxt = []
        for j in range(P):
            sig = Signal.like(lanes[j], name=f"{name}{b}_{j}", attrs={"keep": 1})
            sel = amounts[j][b:b + step]
            with m.Switch(sel):
                for v in range(1 << step):
                    with m.Case(v):
                        m.d.comb += sig.eq(lanes[(j - (v << b)) % P])
            if not last:
                reg = Signal.like(lanes[j], name=f"{name}{b}_{j}_q", reset_less=True)
                m.d.sync += reg.eq(sig)
                sig = reg
            nxt.append(sig)
        if not last:
            # The later layers' amounts, one cycle later (one register per
            # distinct copy, so the copies' fanout stays as it was).
            delayed = {}
            for a in amounts:
                if id(a) not in delayed:
                    delayed[id(a)] = Signal.like(a, name=f"{name}{b}_amt{len(delayed)}", reset_less=True)
                    m.d.sync += delayed[id(a)].eq(a)
            amounts = [delayed[id(a)] for a in amounts]
        lanes = nxt
        b += step
    return lanes
