"""8N1 UART receiver and transmitter with byte streams, for the board's host link.

``clocks_per_bit`` is the clock over the baud rate (for example 25 MHz /
115200 is 217; simulation uses a few). Both ends time bits with one counter.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UartRx", "UartTx"]


def _check_clocks_per_bit(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 4 <= value <= 1 << 20:
        raise ValueError(f"clocks_per_bit must be an integer in 4..{1 << 20}, not {value!r}")
    return value


class UartRx(wiring.Component):
    """Bytes from an 8N1 serial line.

    The line passes two synchronizing flip-flops; a falling edge starts a
    byte, each bit is sampled in its middle, and a byte whose stop bit is 0
    is dropped and counted in ``framing_errors``. A wire cannot wait: a byte
    that finds ``data`` still full is dropped and counted in ``overruns``.

    Members
    -------
    rx : In(1)
        The serial line (idle high).
    data : Out(stream.Signature(8))
        One beat per byte received, offered until taken.
    framing_errors, overruns : Out(16)
        Saturating counts since reset.

    Latency: a byte is offered ``clocks_per_bit // 2 + 2`` cycles into its
    stop bit (the synchronizer and the sample).
    """

    def __init__(self, *, clocks_per_bit):
        self._cpb = _check_clocks_per_bit(clocks_per_bit)
        super().__init__({"rx": In(1, init=1), "data": Out(stream.Signature(8)),
                          "framing_errors": Out(16), "overruns": Out(16)})

    def elaborate(self, platform):
        m = Module()
        cpb = self._cpb
        sync = Signal(2, init=0b11)
        m.d.sync += sync.eq((sync << 1) | self.rx)
        line = sync[1]
        timer = Signal(range(cpb + cpb // 2 + 1))
        bit = Signal(range(10))
        shift = Signal(8)

        with m.If(self.data.valid & self.data.ready):
            m.d.sync += self.data.valid.eq(0)

        def count_up(counter):
            with m.If(counter != (1 << 16) - 1):
                m.d.sync += counter.eq(counter + 1)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    # The first data bit's middle is a bit and a half after the start edge.
                    m.d.sync += [timer.eq(cpb + cpb // 2 - 1), bit.eq(0)]
                    m.next = "BITS"
            with m.State("BITS"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(cpb - 1), bit.eq(bit + 1)]
                    with m.If(bit < 8):
                        m.d.sync += shift.eq((shift >> 1) | (line << 7))
                    with m.Else():
                        m.next = "IDLE"
                        with m.If(~line):
                            count_up(self.framing_errors)
                            m.next = "BREAK"
                        with m.Elif(self.data.valid & ~self.data.ready):
                            count_up(self.overruns)
                        with m.Else():
                            m.d.sync += [self.data.payload.eq(shift), self.data.valid.eq(1)]
            with m.State("BREAK"):
                # After a bad stop bit, wait for the line to go idle before the next start.
                with m.If(line):
                    m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """An 8N1 serial line from bytes.

    Members
    -------
    data : In(stream.Signature(8))
        A beat is taken when the previous byte's stop bit ends (or at once when idle).
    tx : Out(1)
        The serial line, registered (idle high).

    Throughput: one byte per ``10 * clocks_per_bit`` cycles.
    """

    def __init__(self, *, clocks_per_bit):
        self._cpb = _check_clocks_per_bit(clocks_per_bit)
        super().__init__({"data": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        cpb = self._cpb
        timer = Signal(range(cpb))
        frame = Signal(10, init=0x3FF)     # stop, 8 data bits LSB first, start
        left = Signal(range(11))
        m.d.comb += self.data.ready.eq(left == 0)
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += [frame.eq((1 << 9) | (self.data.payload << 1)), left.eq(10), timer.eq(cpb - 1),
                         self.tx.eq(0)]
        with m.Elif(left != 0):
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [timer.eq(cpb - 1), left.eq(left - 1), frame.eq((frame >> 1) | (1 << 9)),
                             self.tx.eq(frame[1] | (left == 1))]
        return m
