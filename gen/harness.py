"""Out-of-context harness: a block's ports behind four pins, for place and route.

A block's ports can exceed the package's I/O (a P=16 top-k has ~700 port
bits; the ECP5-85F in CABGA381 has 197 I/Os), and pins on I/O buffers would
put I/O delays into the timing of the block. nextpnr-ecp5 has an
``--out-of-context`` switch, but it also turns off global clock promotion and
routing (the clock net of thousands of flip-flops then goes over general
routing) and is marked experimental. Instead, the block sits inside a harness
with the pins ``clk``, ``rst``, ``si`` and ``so``:

- every input bit of the block is a flip-flop of one shift chain fed by
  ``si``, so each input is driven by a register that Yosys cannot predict;
- every output bit of the block is registered, then XOR-reduced to ``so`` by a
  tree of 4-input XORs with a register after each level, so every output
  stays observable (nothing is optimised away) and the tree adds one LUT per
  register-to-register path, far faster than the block's own paths.

The harness's flip-flops have no reset, so that the reset net reaches the
block's flip-flops only. The harness's own paths are therefore single flip-flop to flip-flop hops or one
LUT deep; the critical path is the block's (from its inputs' registers to its
outputs' registers, or inside it). The block's cell counts are taken from the
block alone; the harness's flip-flops and LUTs are reported separately.
"""

from amaranth.hdl import Cat, Elaboratable, Module, Signal, Value
from amaranth.lib.wiring import In

__all__ = ["Harness"]

# An XOR of four bits is one LUT4 on ECP5 and iCE40.
_TREE_ARITY = 4


class Harness(Elaboratable):
    """Drive every input of ``component`` from a shift chain, reduce its outputs.

    Parameters
    ----------
    component : wiring.Component
        The block; its signature's flattened members are its ports.

    Members
    -------
    si : Signal(1)
        Serial input of the shift chain.
    so : Signal(1)
        XOR of every registered output bit, after the pipelined tree.
    """

    def __init__(self, component):
        self._component = component
        self.si = Signal()
        self.so = Signal()
        self.in_bits = 0
        self.out_bits = 0
        for _path, member, value in component.signature.flatten(component):
            width = len(Value.cast(value))
            if member.flow == In:
                self.in_bits += width
            else:
                self.out_bits += width

    @property
    def tree_registers(self):
        """Flip-flops of the XOR tree, after the output registers."""
        count, level = 0, self.out_bits
        while level > 1:
            level = -(-level // _TREE_ARITY)
            count += level
        return count

    @property
    def flip_flops(self):
        """Flip-flops the harness adds around the block."""
        return self.in_bits + self.out_bits + self.tree_registers

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self._component
        inputs, outputs = [], []
        for _path, member, value in dut.signature.flatten(dut):
            (inputs if member.flow == In else outputs).append(Value.cast(value))

        if inputs:
            chain = Signal(self.in_bits, reset_less=True)
            m.d.sync += chain.eq(Cat(self.si, chain[:-1]))
            offset = 0
            for value in inputs:
                m.d.comb += value.eq(chain[offset:offset + len(value)])
                offset += len(value)

        level = Signal(max(1, self.out_bits), reset_less=True)
        m.d.sync += level.eq(Cat(*outputs) if outputs else self.si)
        while len(level) > 1:
            parts = [level[i:i + _TREE_ARITY] for i in range(0, len(level), _TREE_ARITY)]
            reduced = Signal(len(parts), reset_less=True)
            m.d.sync += reduced.eq(Cat(part.xor() for part in parts))
            level = reduced
        m.d.comb += self.so.eq(level)
        return m
