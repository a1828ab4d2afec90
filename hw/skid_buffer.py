"""A two-entry register stage for a stream: registered ``valid``, ``payload`` and ``ready``."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SkidBuffer"]


class SkidBuffer(wiring.Component):
    """Cuts every combinational path of a stream: the output is a register, and so is the
    input's ``ready``, with a second (skid) register taking the beat that arrives while the
    output is held.

    Parameters
    ----------
    shape : ShapeLike
        Payload shape.

    Members
    -------
    i : In(stream.Signature(shape))
    o : Out(stream.Signature(shape))
        Latency 1 (a beat taken at one edge is offered from the next); throughput one beat
        per cycle.
    """

    LATENCY = 1

    def __init__(self, shape):
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    @property
    def latency(self):
        return self.LATENCY

    def elaborate(self, platform):
        m = Module()
        skid = Signal.like(self.i.payload, reset_less=True)
        skid_valid = Signal()
        held = Signal.like(self.o.payload, reset_less=True)     # data registers need no reset
        m.d.comb += self.o.payload.eq(held)
        m.d.comb += self.i.ready.eq(~skid_valid)
        # The data registers load whether or not a beat is offered (the flags say what they
        # hold), so that ``i.valid``, a late signal, drives only the two flags.
        with m.If(self.o.ready | ~self.o.valid):
            m.d.sync += [held.eq(Mux(skid_valid, skid, self.i.payload)),
                         self.o.valid.eq(skid_valid | self.i.valid), skid_valid.eq(0)]
        with m.Else():
            with m.If(~skid_valid):
                m.d.sync += skid.eq(self.i.payload)
            with m.If(self.i.valid):
                m.d.sync += skid_valid.eq(1)
        return m
