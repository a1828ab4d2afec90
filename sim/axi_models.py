"""cocotbext-axi models bound to Amaranth ports, with random stalls on every channel.

Amaranth names a flat AXI signature's members ``<port>__<member>``
(``hw.axi.lite.AxiLiteSignature``, ``hw.fetcher.axi.AxiReadSignature``,
``hw.axi.write.AxiWriteSignature``), which cocotbext-axi binds with
``bus_separator="__"``. :func:`stall` sets one pause generator per channel
from ``sim.streams.random_pause``.
"""

import random

from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam, AxiReadBus, AxiWriteBus

from sim import runner
from sim.streams import random_pause

__all__ = ["lite_master", "memory", "read_bus", "write_bus", "stall", "channels", "dram_window"]

runner.allow_cocotbext_deprecations()


def lite_master(dut, prefix="s_axil"):
    """An ``AxiLiteMaster`` on the slave port ``prefix`` of ``dut``."""
    return AxiLiteMaster(AxiLiteBus.from_prefix(dut, prefix, bus_separator="__"), dut.clk, dut.rst)


def read_bus(dut, prefix):
    return AxiReadBus.from_prefix(dut, prefix, bus_separator="__")


def write_bus(dut, prefix):
    return AxiWriteBus.from_prefix(dut, prefix, bus_separator="__")


def memory(dut, prefix, size):
    """An ``AxiRam`` (read and write) on the master port ``prefix`` of ``dut``, many bursts accepted."""
    ram = AxiRam(AxiBus.from_prefix(dut, prefix, bus_separator="__"), dut.clk, dut.rst, size=size)
    for channel in (ram.read_if.ar_channel, ram.write_if.aw_channel, ram.write_if.w_channel):
        channel.queue_occupancy_limit = 512
    return ram


def channels(model):
    """Every channel object of a cocotbext-axi master or RAM (read and write sides)."""
    found = []
    for side in ("read_if", "write_if"):
        part = getattr(model, side, None) or model
        for name in ("aw_channel", "w_channel", "b_channel", "ar_channel", "r_channel"):
            channel = getattr(part, name, None)
            if channel is not None and channel not in found:
                found.append(channel)
    return found


def stall(model, rng, probability):
    """Random pauses with ``probability`` on every channel of ``model`` (0: none)."""
    for channel in channels(model):
        if probability:
            channel.set_pause_generator(random_pause(random.Random(rng.random()), probability))
        else:
            channel.set_pause_generator(None)
            channel.pause = False


class WriteMemory:
    """cocotbext-axi's ``AxiRamWrite`` on ``prefix`` with error words and an AW log.

    ``mem`` shares the storage of another model (a read RAM on the same port).
    ``errors`` maps byte addresses to ``"SLVERR"`` (the write there fails, the
    burst answers SLVERR) or ``"DECERR"`` (the burst answers DECERR). ``log``
    lists ``(address, len, size)`` of every AW handshake.
    """

    def __init__(self, dut, prefix, size, mem=None):
        from cocotb.triggers import RisingEdge
        from cocotbext.axi import AxiRamWrite

        self.ram = AxiRamWrite(write_bus(dut, prefix), dut.clk, dut.rst, size=size, mem=mem)
        for channel in (self.ram.aw_channel, self.ram.w_channel):
            channel.queue_occupancy_limit = 512
        self.errors = {}
        self.log = []
        self._decerr = False
        write, send = self.ram._write, self.ram.b_channel.send

        async def checked_write(address, data):
            hit = [self.errors.get(a) for a in range(address, address + len(data))]
            if "DECERR" in hit:
                self._decerr = True
            if "SLVERR" in hit:
                raise ValueError("slave error region")
            await write(address, data)

        async def send_with_resp(beat):
            if self._decerr:
                beat.bresp = 3
            self._decerr = False
            await send(beat)

        self.ram._write = checked_write
        self.ram.b_channel.send = send_with_resp
        valid, ready = getattr(dut, f"{prefix}__awvalid"), getattr(dut, f"{prefix}__awready")
        addr, length, size = (getattr(dut, f"{prefix}__aw{n}") for n in ("addr", "len", "size"))

        async def watch():
            while True:
                await RisingEdge(dut.clk)
                if not int(dut.rst.value) and int(valid.value) and int(ready.value):
                    self.log.append((int(addr.value), int(length.value), int(size.value)))

        import cocotb
        cocotb.start_soon(watch())


def dram_window(cfg, *, limit=1 << 20):
    """``(size, region)`` of a bench's DRAM model: ``limit`` bytes, or the whole address space of
    ``cfg`` when smaller, and the driver's ``(base, bytes)`` from a sixteenth of the way in."""
    size = min(limit, 1 << cfg.axi_addr_bits)
    return size, (size // 16, size - size // 16)
