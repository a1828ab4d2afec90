"""A :class:`gen.driver.Transport` whose core is :class:`golden.core.CoreModel`: the driver on golden.

:class:`GoldenTransport` holds a bytearray as DRAM and answers the
registers of ``hw.core.regmap`` by the offsets of the register module
(``gen.regmap.module_for(cfg)`` by default): constants read their values,
``rw`` registers keep what is written (cut to their width), ``CTRL.start``
runs the model on the memory at once (``STATUS.busy`` is never seen high),
``CTRL.clear`` clears ``done``, ``error`` and ``error_code``,
``CTRL.soft_reset`` resets the model (the sequence forgotten), ``STATUS``
and the counters (total and ``LAYER_*``, cycle counters 0) read as the
model left them, ``DECODED_*`` show the last command that passed the
record check (zero after a rejected record). Unmapped offsets read 0 and
ignore writes. The same :class:`gen.driver.SpattenDriver` code then runs on
golden, in RTL simulation and on the board.
"""

from __future__ import annotations

from golden.command import Error
from golden.core import CoreModel
from hw.core.regmap import register_map

from .driver import Transport

__all__ = ["GoldenTransport"]


class GoldenTransport(Transport):
    """Registers and memory backed by :class:`golden.core.CoreModel`.

    Parameters
    ----------
    cfg : SpattenConfig
    size : int
        Bytes of the memory image (``mem``), addresses 0..size-1.
    regs : module or None
        The register module; default ``gen.regmap.module_for(cfg)``.

    Members
    -------
    mem : bytearray
    model : CoreModel
    starts : int, ``CTRL.start`` writes that ran the model
    """

    def __init__(self, cfg, size, *, regs=None):
        if regs is None:
            from .regmap import module_for
            regs = module_for(cfg)
        self.cfg, self.regs = cfg, regs
        self.mem = bytearray(size)
        self.model = CoreModel(cfg)
        self.starts = 0
        self._names = {offset: name for name, (offset, _) in regs.REGISTERS.items()}
        self._bits = {reg.name: reg.bits for reg in register_map(cfg)}
        self._rw = {name: getattr(regs, f"{name}_VALUE", 0) for name, (_, access) in regs.REGISTERS.items()
                    if access == "rw"}
        self._status = {"busy": 0, "done": 0, "error": 0, "error_code": Error.NONE, "command": 0}

    async def read_mem(self, addr, length):
        return bytes(self.mem[addr:addr + length])

    async def write_mem(self, addr, data):
        self.mem[addr:addr + len(data)] = data

    async def write32(self, addr, value):
        name = self._names.get(addr)
        value &= 0xFFFF_FFFF
        if name in self._rw:
            self._rw[name] = value & ((1 << self._bits[name]) - 1)
        elif name == "CTRL":
            self._ctrl(value)

    def _ctrl(self, value):
        regs = self.regs
        if value & regs.CTRL_SOFT_RESET_MASK:
            # The reset wins over a start or a clear written with it (the walker is held in reset).
            self.model.reset()
            self._status = dict.fromkeys(self._status, 0)
            return
        if value & regs.CTRL_CLEAR_MASK:
            self._status.update(done=0, error=0, error_code=Error.NONE)
        if value & regs.CTRL_START_MASK:
            ptr = self._rw["CMD_PTR_LO"] | self._rw["CMD_PTR_HI"] << 32
            status = self.model.run(self.mem, ptr, self._rw["CMD_COUNT"])
            self.starts += 1
            self._status = {"busy": 0, "done": int(status.done), "error": int(not status.done),
                            "error_code": status.error, "command": status.command}

    async def read32(self, addr):
        name = self._names.get(addr)
        if name is None:
            return 0
        if name in self._rw:
            return self._rw[name]
        _, access = self.regs.REGISTERS[name]
        if access == "const":
            return getattr(self.regs, f"{name}_VALUE")
        if access == "counter":
            return self._counter(name)
        if name == "STATUS":
            return self._pack("STATUS", self._status)
        if name.startswith("DECODED_"):
            return self._decoded(name)
        return 0

    def _counter(self, word):
        name, half = word[:-3], word[-2:]
        counts = self.model.layer_counters if name.startswith("LAYER_") else self.model.counters
        value = counts[name.removeprefix("LAYER_")]
        return value & 0xFFFF_FFFF if half == "LO" else value >> 32

    def _pack(self, reg, fields):
        return sum((int(value) << getattr(self.regs, f"{reg}_{name.upper()}_SHIFT"))
                   & getattr(self.regs, f"{reg}_{name.upper()}_MASK") for name, value in fields.items())

    def _decoded(self, name):
        cmd = self.model.decoded
        if cmd is None:
            return 0
        if name == "DECODED_CONTROL":
            return self._pack(name, {"mode": cmd.mode, "last": cmd.last})
        if name == "DECODED_KEEP":
            return self._pack(name, {"token_keep": cmd.token_keep, "head_keep": cmd.head_keep})
        field = name.removeprefix("DECODED_").lower()
        return getattr(cmd, field) & ((1 << self._bits[name]) - 1)
