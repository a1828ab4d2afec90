"""An AXI4-Lite register slave built from a register description.

:class:`Register` and :class:`Field` describe a map (``hw.core.regmap`` is
SpAtten's); :class:`AxiLiteRegisters` is its decoder, and ``gen.regmap``
emits the C header, the Python module and the README table from the same
description.
"""

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int

__all__ = ["Field", "Register", "ACCESS", "AxiLiteSignature", "AxiLiteRegisters", "RESP_OKAY",
           "RESP_SLVERR", "RESP_DECERR"]

RESP_OKAY = 0
RESP_SLVERR = 2
RESP_DECERR = 3

#: Access kinds: a constant, an input from the core, storage the host writes, write-1 pulses,
#: a 64-bit counter (two words: ``_LO`` at the offset, ``_HI`` after it; reading ``_LO`` latches
#: ``_HI``, so that a lo-then-hi read is one consistent value).
ACCESS = ("const", "ro", "rw", "pulse", "counter")


@dataclass(frozen=True)
class Field:
    """Bits ``lsb .. lsb + bits - 1`` of a register, named."""
    name: str
    lsb: int
    bits: int = 1
    doc: str = ""

    @property
    def mask(self):
        return ((1 << self.bits) - 1) << self.lsb


@dataclass(frozen=True)
class Register:
    """One register of a map.

    ``offset`` is a byte offset, a multiple of 4; ``value`` is a constant's
    value or a ``rw`` register's reset value; ``fields`` (optional) name its
    bits. A ``counter`` is 64 bits wide and takes two words.
    """
    name: str
    offset: int
    access: str
    doc: str = ""
    value: int = 0
    bits: int = 32
    fields: tuple = ()

    def __post_init__(self):
        if self.access not in ACCESS:
            raise ValueError(f"access must be one of {', '.join(ACCESS)}, not {self.access!r}")
        if self.offset % 4:
            raise ValueError(f"offset must be a multiple of 4, not {self.offset:#x}")
        if self.access == "counter":
            object.__setattr__(self, "bits", 64)
        elif not 1 <= self.bits <= 32:
            raise ValueError(f"bits must be in 1..32, not {self.bits!r}")
        for f in self.fields:
            if f.lsb < 0 or f.lsb + f.bits > self.bits:
                raise ValueError(f"field {f.name} must lie within the {self.bits} bits of {self.name}")

    @property
    def words(self):
        """``(name, byte offset)`` of each 32-bit word."""
        if self.access == "counter":
            return ((f"{self.name}_LO", self.offset), (f"{self.name}_HI", self.offset + 4))
        return ((self.name, self.offset),)

    @property
    def port(self):
        """The component's port name of this register (``None`` for a constant)."""
        return None if self.access == "const" else self.name.lower()

    def layout(self):
        """The port's shape: the fields as a ``FlexibleLayout``, else plain bits."""
        if not self.fields:
            return unsigned(self.bits)
        return data.FlexibleLayout(self.bits, {f.name: data.Field(unsigned(f.bits), f.lsb)
                                               for f in self.fields})


class AxiLiteSignature(wiring.Signature):
    """The five AXI4-Lite channels, flat members (``awvalid`` ... ``rresp``), as a master drives them.

    A port ``s_axil`` of ``In(AxiLiteSignature(...))`` becomes ``s_axil__awaddr`` etc., which
    cocotbext-axi binds with ``bus_separator="__"``.
    """

    def __init__(self, *, addr_bits, data_bits=32):
        self.addr_bits = check_int("addr_bits", addr_bits, 4, 32)
        if data_bits != 32:
            raise ValueError(f"data_bits must be 32, not {data_bits!r}")
        self.data_bits = data_bits
        super().__init__({
            "awvalid": Out(1), "awready": In(1), "awaddr": Out(self.addr_bits), "awprot": Out(3),
            "wvalid": Out(1), "wready": In(1), "wdata": Out(32), "wstrb": Out(4),
            "bvalid": In(1), "bready": Out(1), "bresp": In(2),
            "arvalid": Out(1), "arready": In(1), "araddr": Out(self.addr_bits), "arprot": Out(3),
            "rvalid": In(1), "rready": Out(1), "rdata": In(32), "rresp": In(2),
        })

    def __eq__(self, other):
        return isinstance(other, AxiLiteSignature) and self.addr_bits == other.addr_bits

    def __hash__(self):
        return hash((AxiLiteSignature, self.addr_bits))


class AxiLiteRegisters(wiring.Component):
    """AXI4-Lite slave of a register map.

    One write and one read in flight: a write completes when both its
    address and its data are in (in either order, neither waits for the
    other's ready), a read the cycle after its address. Byte strobes apply
    to ``rw`` registers and pulses. Responses: OKAY; SLVERR for a write to
    a ``const``, ``ro`` or ``counter`` word; DECERR for an address outside
    the map (reads return 0). Address bits ``[1:0]`` are ignored.

    Parameters
    ----------
    registers : sequence of Register
        The map; offsets below ``2**addr_bits``, words not overlapping.
    addr_bits : int
        Address width of the slave, 4..32.

    Members
    -------
    s_axil : In(AxiLiteSignature)
    <name> : one port per non-constant register, named ``Register.port``:
        ``rw`` and ``pulse`` registers are outputs (registered; a pulse is
        high for the one cycle after the write), ``ro`` and ``counter``
        registers inputs.

    Latency: write response 1 cycle after the later of AW and W; read data
    1 cycle after AR. Throughput: one write per 2 cycles, one read per 2.
    """

    def __init__(self, *, registers, addr_bits):
        self._registers = tuple(registers)
        self._addr_bits = check_int("addr_bits", addr_bits, 4, 32)
        seen = {}
        for reg in self._registers:
            if not isinstance(reg, Register):
                raise TypeError(f"registers must be Register descriptions, not {reg!r}")
            for name, offset in reg.words:
                if offset in seen:
                    raise ValueError(f"register {name} overlaps {seen[offset]} at {offset:#x}")
                if offset >= 1 << self._addr_bits:
                    raise ValueError(f"register {name} at {offset:#x} must be below 2**addr_bits")
                seen[offset] = name
        members = {"s_axil": In(AxiLiteSignature(addr_bits=self._addr_bits))}
        for reg in self._registers:
            if reg.port is not None:
                members[reg.port] = (Out if reg.access in ("rw", "pulse") else In)(reg.layout())
        super().__init__(members)

    @property
    def registers(self):
        return self._registers

    def elaborate(self, platform):
        m = Module()
        bus = self.s_axil

        # Write: address and data land in holding registers independently.
        aw_held, w_held = Signal(), Signal()
        waddr = Signal(self._addr_bits - 2, reset_less=True)
        wdata = Signal(32, reset_less=True)
        wstrb = Signal(4, reset_less=True)
        bvalid, bresp = Signal(), Signal(2)
        m.d.comb += [bus.awready.eq(~aw_held & ~bvalid), bus.wready.eq(~w_held & ~bvalid),
                     bus.bvalid.eq(bvalid), bus.bresp.eq(bresp)]
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += [aw_held.eq(1), waddr.eq(bus.awaddr[2:])]
        with m.If(bus.wvalid & bus.wready):
            m.d.sync += [w_held.eq(1), wdata.eq(bus.wdata), wstrb.eq(bus.wstrb)]
        with m.If(bvalid & bus.bready):
            m.d.sync += bvalid.eq(0)
        strobe_mask = Signal(32)
        m.d.comb += strobe_mask.eq(Cat(*(wstrb[i].replicate(8) for i in range(4))))

        for reg in self._registers:
            if reg.access == "pulse":
                m.d.sync += getattr(self, reg.port).eq(0)
        storage = {}
        for reg in self._registers:
            if reg.access == "rw":
                storage[reg.name] = Signal(reg.bits, init=reg.value & ((1 << reg.bits) - 1))
                m.d.comb += getattr(self, reg.port).eq(storage[reg.name])

        with m.If(aw_held & w_held & ~bvalid):
            m.d.sync += [aw_held.eq(0), w_held.eq(0), bvalid.eq(1), bresp.eq(RESP_DECERR)]
            with m.Switch(waddr):
                for reg in self._registers:
                    for _, offset in reg.words:
                        with m.Case(offset >> 2):
                            if reg.access == "rw":
                                old = storage[reg.name]
                                m.d.sync += [old.eq((old & ~strobe_mask) | (wdata & strobe_mask)),
                                             bresp.eq(RESP_OKAY)]
                            elif reg.access == "pulse":
                                m.d.sync += [getattr(self, reg.port).eq(wdata & strobe_mask),
                                             bresp.eq(RESP_OKAY)]
                            else:
                                m.d.sync += bresp.eq(RESP_SLVERR)

        # Read: data registered the cycle after the address; a counter's _LO read latches _HI.
        rvalid = Signal()
        rdata = Signal(32, reset_less=True)
        rresp = Signal(2, reset_less=True)
        m.d.comb += [bus.arready.eq(~rvalid), bus.rvalid.eq(rvalid), bus.rdata.eq(rdata),
                     bus.rresp.eq(rresp)]
        with m.If(rvalid & bus.rready):
            m.d.sync += rvalid.eq(0)
        shadows = {reg.name: Signal(32)
                   for reg in self._registers if reg.access == "counter"}
        with m.If(bus.arvalid & bus.arready):
            m.d.sync += [rvalid.eq(1), rdata.eq(0), rresp.eq(RESP_DECERR)]
            with m.Switch(bus.araddr[2:]):
                for reg in self._registers:
                    for index, (_, offset) in enumerate(reg.words):
                        with m.Case(offset >> 2):
                            m.d.sync += [rresp.eq(RESP_OKAY), rdata.eq(self._read_value(reg, index,
                                                                                          storage, shadows))]
                            if reg.access == "counter" and index == 0:
                                m.d.sync += shadows[reg.name].eq(getattr(self, reg.port)[32:])
        return m

    def _read_value(self, reg, index, storage, shadows):
        if reg.access == "const":
            return Const(reg.value & 0xFFFF_FFFF, 32)
        if reg.access == "pulse":
            return Const(0, 32)
        if reg.access == "rw":
            return storage[reg.name]
        port = getattr(self, reg.port)
        if reg.access == "counter":
            return port[:32] if index == 0 else shadows[reg.name]
        return port.as_value() if hasattr(port, "as_value") else port
