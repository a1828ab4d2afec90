"""The driver's transport in simulation: cocotbext-axi's AXI4-Lite master for the registers and
the AXI RAM model's backdoor for DRAM (``gen.driver.Transport``)."""

from cocotbext.axi import AxiResp

from gen.driver import Transport

__all__ = ["CocotbTransport"]


class CocotbTransport(Transport):
    """``master``: an ``AxiLiteMaster`` on the core's ``s_axil``; ``memory``: an object with
    ``write(addr, data)`` and ``ram.read(addr, length)`` (``sim.fetcher.AxiMemory``); ``domain``: the
    clock (``idle`` waits ``poll_cycles`` cycles)."""

    def __init__(self, master, memory, domain, *, poll_cycles=8):
        self.master, self.memory, self.domain, self.poll_cycles = master, memory, domain, poll_cycles

    async def read32(self, addr):
        got = await self.master.read(addr, 4)
        if got.resp != AxiResp.OKAY:
            raise OSError(f"register read at {addr:#x} answered {got.resp!r}")
        return int.from_bytes(got.data, "little")

    async def write32(self, addr, value):
        got = await self.master.write(addr, int(value).to_bytes(4, "little"))
        if got.resp != AxiResp.OKAY:
            raise OSError(f"register write at {addr:#x} answered {got.resp!r}")

    async def read_mem(self, addr, length):
        return self.memory.ram.read(addr, length)

    async def write_mem(self, addr, data):
        self.memory.write(addr, data)

    async def idle(self):
        await self.domain.cycles(self.poll_cycles)
