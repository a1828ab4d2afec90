"""The host driver of the SpAtten core: DRAM layout, command lists, start, wait, results.

:class:`SpattenDriver` talks to the core through a :class:`Transport`
(32-bit register reads and writes on the AXI4-Lite port, bulk DRAM reads
and writes): ``sim.transport.CocotbTransport`` in simulation, a serial
link on the board. Registers are used by NAME from the register module
that ``python -m gen verilog`` emits (``build/<config>/spatten_regs.py``,
:func:`gen.regmap.load_module`; by default the same module built in
memory). Every method that touches the core is a coroutine: a blocking
transport runs it with ``asyncio.run``.

Typical use::

    drv = SpattenDriver(transport, cfg)
    await drv.check_hardware()
    layer = drv.prepare_layer(q, k, v, token_keep=..., head_keep=..., value_keep=0.5)
    await drv.write_layer(layer)
    ptr = await drv.write_commands([layer.command])
    await drv.start(ptr, 1)
    status = await drv.wait()
    out = await drv.read_outputs(layer)
    counts = await drv.counters()
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from golden.command import (
    MAX_HEADS,
    MAX_LAYERS,
    RECORD_BYTES,
    Command,
    Error,
    Mode,
    command_bytes,
    out_row_bytes,
    survivor_bytes,
    unpack_survivors,
)
from golden.core import check_core_cfg
from golden.fetch import refetch_threshold_code
from golden.formats import OUT_FRAC
from golden.pruning import value_keep_code
from golden.qk import score_multiplier
from golden.quant import pack_kv, quant_scale, quantize, row_bytes, unpack_plane
from golden.spatten import head_target, quantize_layer, sequence_steps, token_target

__all__ = ["Transport", "MemoryTransport", "Allocator", "Layer", "Status", "CommandError",
           "SpattenDriver", "SequenceLayout", "StepLayer"]


class Transport:
    """How the driver reaches the core: override the four coroutines."""

    async def read32(self, addr):
        raise NotImplementedError

    async def write32(self, addr, value):
        raise NotImplementedError

    async def read_mem(self, addr, length):
        raise NotImplementedError

    async def write_mem(self, addr, data):
        raise NotImplementedError

    async def idle(self):
        """Called between status polls (wait a little)."""


class MemoryTransport(Transport):
    """A transport to nothing: a bytearray as DRAM and a dict as registers (driver tests)."""

    def __init__(self, size):
        self.mem = bytearray(size)
        self.regs = {}

    async def read32(self, addr):
        return self.regs.get(addr, 0)

    async def write32(self, addr, value):
        self.regs[addr] = value & 0xFFFF_FFFF

    async def read_mem(self, addr, length):
        return bytes(self.mem[addr:addr + length])

    async def write_mem(self, addr, data):
        self.mem[addr:addr + len(data)] = data


class Allocator:
    """Bump allocation of DRAM from ``base`` to ``base + size``, each region aligned."""

    def __init__(self, base, size, align):
        self.base, self.end, self.align = base, base + size, align
        self.next = base

    def alloc(self, nbytes, align=None):
        align = max(align or self.align, self.align)
        start = -(-self.next // align) * align
        if start + nbytes > self.end:
            raise MemoryError(f"DRAM region of {self.end - self.base} bytes is full "
                              f"(asked {nbytes} at {start:#x})")
        self.next = start + nbytes
        return start

    def reset(self):
        """Forget every region: the next allocation starts at ``base`` again."""
        self.next = self.base


@dataclass
class Layer:
    """One layer command and the DRAM images it needs (written by :meth:`SpattenDriver.write_layer`)."""
    command: Command
    images: list            # (address, bytes)
    scale_v: float = 1.0


@dataclass(frozen=True)
class Status:
    busy: bool
    done: bool
    error: bool
    error_code: Error
    command: int


class CommandError(RuntimeError):
    """The core stopped a command list: ``code`` (golden.command.Error) at command ``index``."""

    def __init__(self, code, index):
        self.code, self.index = Error(code), index
        super().__init__(f"command {index} failed: {self.code.name}")


class SpattenDriver:
    """Drives one SpAtten core.

    Parameters
    ----------
    transport : Transport
    cfg : SpattenConfig
        The core's configuration (checked against the hardware by :meth:`check_hardware`).
    regs : module or None
        The emitted register module; default ``gen.regmap.module_for(cfg)``.
    dram : (base, size)
        The DRAM window the driver allocates from.
    """

    def __init__(self, transport, cfg, *, regs=None, dram=(0x1_0000, 1 << 20)):
        if not isinstance(transport, Transport):
            raise TypeError(f"transport must be a Transport, not {transport!r}")
        if regs is None:
            from .regmap import module_for
            regs = module_for(cfg)
        self.transport, self.cfg, self.regs = transport, cfg, regs
        self.port_bytes = cfg.axi_data_bits // 8
        self.dram = Allocator(dram[0], dram[1], self.port_bytes)

    # -- registers by name ------------------------------------------------------------------

    def offset(self, name):
        try:
            return self.regs.REGISTERS[name][0]
        except KeyError:
            raise KeyError(f"name must be a register of the map, not {name!r}") from None

    async def read_reg(self, name):
        return await self.transport.read32(self.offset(name))

    async def write_reg(self, name, value):
        await self.transport.write32(self.offset(name), value)

    def field(self, value, reg, field):
        mask, shift = (getattr(self.regs, f"{reg}_{field}_{part}") for part in ("MASK", "SHIFT"))
        return (value & mask) >> shift

    async def check_hardware(self):
        """Raise ``RuntimeError`` naming the register when the core is not the one ``cfg`` describes."""
        for name in [n for n, (_, access) in self.regs.REGISTERS.items() if access == "const"]:
            got, want = await self.read_reg(name), getattr(self.regs, f"{name}_VALUE")
            if got != want:
                raise RuntimeError(f"{name} reads {got:#x}, expected {want:#x} for configuration "
                                   f"{self.cfg.name!r}")

    # -- DRAM layout ----------------------------------------------------------------------------

    def quantize(self, q, k, v):
        """Float ``q, k, v (H, L, D)`` -> codes and scales (``golden.quant``, per tensor)."""
        bits = self.cfg.value_bits
        scales = [quant_scale(x, bits) for x in (q, k, v)]
        return [quantize(x, s, bits) for x, s in zip((q, k, v), scales, strict=True)], scales

    def prepare_layer(self, q, k, v, *, token_keep=None, head_keep=None, value_keep=1.0, threshold=None,
                      mode=Mode.SUMMARIZE, last=False, layer=0, causal=False, fresh=True):
        """Quantize ``q, k, v`` (float, ``(H, L, D)``), lay them out in DRAM, and build the command.

        Q, K and V are ``golden.quant.pack_kv`` MSB and LSB planes of ``cfg.head_dim``-element
        rows (zero-padded when ``D < cfg.head_dim``), each head's region padded to the port
        width; output rows are ``out_row_bytes(cfg.head_dim, value_bits)`` bytes at a stride
        rounded up to the port; the survivor record gets ``survivor_bytes(cfg)``. Keep counts
        default to everything.
        """
        cfg = self.cfg
        (qc, kc, vc), (sq, sk, sv) = self.quantize(q, k, v)
        heads, rows, d = qc.shape
        keys = kc.shape[1]
        if heads > MAX_HEADS:
            raise ValueError(f"heads must be at most {MAX_HEADS}, not {heads}")
        if d > cfg.head_dim:
            raise ValueError(f"D must be at most cfg.head_dim = {cfg.head_dim}, not {d}")
        images, fields = [], {}

        def region(name, per_head):
            stride = -(-per_head.shape[-1] * per_head.shape[-2] // self.port_bytes) * self.port_bytes
            base = self.dram.alloc(max(stride, self.port_bytes) * heads)
            for h in range(heads):
                images.append((base + h * stride, per_head[h].tobytes()))
            fields[f"{name}_base"], fields[f"{name}_stride"] = base, stride

        for name, codes in (("q", qc), ("k", kc), ("v", vc)):
            padded = np.zeros(codes.shape[:-1] + (cfg.head_dim,), np.int64)
            padded[..., :d] = codes
            msb, lsb = pack_kv(padded, cfg.msb_bits, cfg.lsb_bits)
            region(f"{name}_msb", msb)
            region(f"{name}_lsb", lsb)
        row_stride = -(-out_row_bytes(cfg.head_dim, cfg.value_bits) // self.port_bytes) * self.port_bytes
        fields["out_row_stride"] = row_stride
        fields["out_stride"] = row_stride * rows
        fields["out_base"] = self.dram.alloc(row_stride * rows * heads)
        fields["survivors_base"] = self.dram.alloc(survivor_bytes(cfg))
        scale = score_multiplier(sq, sk, d)
        command = Command(mode=mode, last=last, fresh=fresh, causal=causal, keys=keys, rows=rows, head_dim=d,
                          heads=heads, layer=layer,
                          token_keep=keys if token_keep is None else token_keep,
                          head_keep=heads if head_keep is None else head_keep,
                          value_keep=value_keep_code(value_keep),
                          threshold=refetch_threshold_code(cfg.requant_threshold if threshold is None
                                                           else threshold),
                          scales=(scale,) * heads, **fields)
        return Layer(command, images, sv)

    async def write_layer(self, layer):
        for addr, data in layer.images:
            await self.transport.write_mem(addr, data)

    async def write_commands(self, commands):
        """Write a command list (the last one flagged ``last``); return its address."""
        commands = list(commands)
        ptr = self.dram.alloc(RECORD_BYTES * len(commands), align=RECORD_BYTES)
        for i, cmd in enumerate(commands):
            if i == len(commands) - 1 and not cmd.last:
                cmd = dataclasses.replace(cmd, last=True)
            await self.transport.write_mem(ptr + i * RECORD_BYTES, command_bytes(cmd))
        return ptr

    # -- running ----------------------------------------------------------------------------

    async def start(self, ptr, count):
        await self.write_reg("CMD_PTR_LO", ptr & 0xFFFF_FFFF)
        await self.write_reg("CMD_PTR_HI", ptr >> 32)
        await self.write_reg("CMD_COUNT", count)
        await self.write_reg("CTRL", self.regs.CTRL_START_MASK)

    async def status(self):
        value = await self.read_reg("STATUS")
        return Status(busy=bool(self.field(value, "STATUS", "BUSY")),
                      done=bool(self.field(value, "STATUS", "DONE")),
                      error=bool(self.field(value, "STATUS", "ERROR")),
                      error_code=Error(self.field(value, "STATUS", "ERROR_CODE")),
                      command=self.field(value, "STATUS", "COMMAND"))

    async def wait(self, *, polls=100_000, raise_on_error=True):
        """Poll STATUS until the core is not busy; on an error clear it and raise :class:`CommandError`.

        ``TimeoutError`` after ``polls`` polls with the core still busy.
        """
        for _ in range(polls):
            status = await self.status()
            if not status.busy:
                break
            await self.transport.idle()
        else:
            raise TimeoutError(f"the core is still busy after {polls} polls (command {status.command})")
        if status.error and raise_on_error:
            await self.clear()
            raise CommandError(status.error_code, status.command)
        return status

    async def clear(self):
        await self.write_reg("CTRL", self.regs.CTRL_CLEAR_MASK)

    async def soft_reset(self):
        await self.write_reg("CTRL", self.regs.CTRL_SOFT_RESET_MASK)

    # -- results ------------------------------------------------------------------------------

    async def read_outputs(self, layer):
        """The output codes ``(H, rows, D)`` of a layer (``value_bits + OUT_FRAC``-bit signed).

        Rows in DRAM hold ``cfg.head_dim`` elements; the first ``D`` are the layer's.
        """
        cmd, width = layer.command, self.cfg.head_dim
        bits = self.cfg.value_bits + OUT_FRAC
        nbytes = out_row_bytes(width, self.cfg.value_bits)
        out = np.zeros((cmd.heads, cmd.rows, cmd.head_dim), np.int64)
        for h in range(cmd.heads):
            for i in range(cmd.rows):
                addr = cmd.out_base + h * cmd.out_stride + i * cmd.out_row_stride
                raw = np.frombuffer(await self.transport.read_mem(addr, nbytes), np.uint8)
                out[h, i] = unpack_plane(raw[None], bits, width, signed=True)[0, :cmd.head_dim]
        return out

    async def counters(self, *, layer=False):
        """Every counter (``LAYER_*`` ones with ``layer=True``) by name: lo word first, it latches hi."""
        names = [n[:-3] for n, (_, access) in self.regs.REGISTERS.items()
                 if access == "counter" and n.endswith("_LO") and n.startswith("LAYER_") == layer]
        values = {}
        for name in names:
            lo = await self.read_reg(f"{name}_LO")
            values[name] = lo | await self.read_reg(f"{name}_HI") << 32
        return values

    async def decoded(self):
        """The last command the core read, from the ``DECODED_*`` registers."""
        control, keep = await self.read_reg("DECODED_CONTROL"), await self.read_reg("DECODED_KEEP")
        return {"mode": self.field(control, "DECODED_CONTROL", "MODE"),
                "last": self.field(control, "DECODED_CONTROL", "LAST"),
                "keys": await self.read_reg("DECODED_KEYS"), "rows": await self.read_reg("DECODED_ROWS"),
                "head_dim": await self.read_reg("DECODED_HEAD_DIM"),
                "heads": await self.read_reg("DECODED_HEADS"),
                "token_keep": self.field(keep, "DECODED_KEEP", "TOKEN_KEEP"),
                "head_keep": self.field(keep, "DECODED_KEEP", "HEAD_KEEP")}

    # -- sequences: the layers of a model, summarised or generated token by token ----------

    def prepare_sequence(self, n_layers, n_heads, length, d):
        """Allocate the DRAM regions of a sequence: per layer, Q/K/V planes, outputs, survivors.

        Every plane holds ``length`` rows of ``cfg.head_dim`` elements per head
        (each step of a generation re-writes its rows from 0), and the command
        records one region of ``n_layers`` records. Returns a :class:`SequenceLayout`.
        """
        cfg = self.cfg
        n_layers, n_heads, length, d = (int(x) for x in (n_layers, n_heads, length, d))
        for name, value, hi in (("n_layers", n_layers, MAX_LAYERS), ("n_heads", n_heads, MAX_HEADS),
                                ("length", length, cfg.max_context), ("d", d, cfg.head_dim)):
            if not 1 <= value <= hi:
                raise ValueError(f"{name} must be in 1..{hi}, not {value}")
        port = self.port_bytes

        def up(n):
            return -(-n // port) * port

        layers = []
        for _ in range(n_layers):
            fields = {}
            for name in ("q", "k", "v"):
                for part, bits in (("msb", cfg.msb_bits), ("lsb", cfg.lsb_bits)):
                    stride = up(length * row_bytes(cfg.head_dim, bits))
                    fields[f"{name}_{part}_base"] = self.dram.alloc(stride * n_heads)
                    fields[f"{name}_{part}_stride"] = stride
            fields["out_row_stride"] = up(out_row_bytes(cfg.head_dim, cfg.value_bits))
            fields["out_stride"] = fields["out_row_stride"] * length
            fields["out_base"] = self.dram.alloc(fields["out_stride"] * n_heads)
            fields["survivors_base"] = self.dram.alloc(survivor_bytes(cfg))
            layers.append(fields)
        cmd_ptr = self.dram.alloc(RECORD_BYTES * n_layers, align=RECORD_BYTES)
        return SequenceLayout(n_layers, n_heads, length, d, layers, cmd_ptr)

    def sequence_step(self, layout, q_layers, k_layers, v_layers, lo, hi, *, mode="summarize",
                      causal=True, fresh=False, per_head_scale=False):
        """The commands of one step of a sequence: query rows ``lo..hi-1``, keys ``0..hi-1``, every layer.

        Each layer is quantized as ``golden.spatten.quantize_layer`` does (the whole
        cache of the step), its keep targets are the cfg's schedules
        (``token_target`` / ``head_target``), and its value keep and re-fetch
        threshold the cfg's codes. ``fresh`` marks the first command (a new
        sequence). Returns a list of :class:`StepLayer`, one per layer.
        """
        cfg = self.cfg
        check_core_cfg(cfg)
        n_layers, n_heads = layout.n_layers, layout.n_heads
        if mode not in ("summarize", "generate"):
            raise ValueError(f"mode must be 'summarize' or 'generate', not {mode!r}")
        if not 0 <= lo < hi <= layout.length:
            raise ValueError(f"rows lo..hi must satisfy 0 <= lo < hi <= {layout.length}, not {lo}..{hi}")
        out = []
        for layer in range(n_layers):
            q = np.asarray(q_layers[layer], dtype=np.float64)[:, lo:hi]
            k = np.asarray(k_layers[layer], dtype=np.float64)[:, :hi]
            v = np.asarray(v_layers[layer], dtype=np.float64)[:, :hi]
            for name, x in (("q", q), ("k", k), ("v", v)):
                if x.shape[0] != n_heads or x.shape[2] != layout.d:
                    raise ValueError(f"{name}_layers[{layer}] must be (H={n_heads}, L, D={layout.d}), "
                                     f"not {x.shape}")
            prep = quantize_layer(cfg, q, k, v, np.ones(n_heads, dtype=bool), per_head_scale=per_head_scale)
            fields = layout.layers[layer]
            images = []
            for name in ("q", "k", "v"):
                codes = np.zeros(prep[name].shape[:2] + (cfg.head_dim,), dtype=np.int64)
                codes[..., :layout.d] = prep[name]
                for part, packed in zip(("msb", "lsb"), pack_kv(codes, cfg.msb_bits, cfg.lsb_bits),
                                        strict=True):
                    base, stride = fields[f"{name}_{part}_base"], fields[f"{name}_{part}_stride"]
                    images += [(base + h * stride, packed[h].tobytes()) for h in range(n_heads)]
            command = Command(mode=Mode.SUMMARIZE if mode == "summarize" else Mode.GENERATE,
                              last=layer == n_layers - 1, fresh=fresh and layer == 0, causal=causal,
                              keys=hi, rows=hi - lo, head_dim=layout.d, heads=n_heads, layer=layer,
                              token_keep=token_target(cfg, layer, n_layers, hi, hi - lo),
                              head_keep=head_target(cfg, layer, n_layers, n_heads),
                              value_keep=value_keep_code(cfg.value_keep),
                              threshold=refetch_threshold_code(cfg.requant_threshold),
                              scales=tuple(prep["mult"]), **fields)
            out.append(StepLayer(command, images, prep["sv"], lo, hi))
        return out

    async def write_step(self, layout, step):
        """Write a step's planes and its command records (at ``layout.cmd_ptr``)."""
        for layer in step:
            await self.write_layer(layer)
        for i, layer in enumerate(step):
            await self.transport.write_mem(layout.cmd_ptr + i * RECORD_BYTES, command_bytes(layer.command))

    async def read_step_layer(self, layer):
        """A finished layer command's results: a dict of ``out`` ``(H, rows, D)`` float32 (dequantised
        as ``SpattenAttention`` does, pruned heads zero), ``codes``, ``head_alive (H,)``,
        ``token_alive (keys,)`` and ``tokens_alive`` (the survivor record's count)."""
        cmd, cfg = layer.command, self.cfg
        raw = await self.transport.read_mem(cmd.survivors_base, survivor_bytes(cfg))
        head_alive, token_alive, count = unpack_survivors(cfg, raw, cmd.keys, cmd.heads)
        bits = cfg.value_bits + OUT_FRAC
        nbytes = row_bytes(cfg.head_dim, bits)
        codes = np.zeros((cmd.heads, cmd.rows, cmd.head_dim), np.int64)
        out = np.zeros((cmd.heads, cmd.rows, cmd.head_dim), np.float64)
        for h in np.flatnonzero(head_alive):
            base = cmd.out_base + h * cmd.out_stride
            rows = [await self.transport.read_mem(base + i * cmd.out_row_stride, nbytes)
                    for i in range(cmd.rows)]
            raw = np.frombuffer(b"".join(rows), np.uint8).reshape(cmd.rows, nbytes)
            codes[h] = unpack_plane(raw, bits, cfg.head_dim, signed=True)[:, :cmd.head_dim]
            sv = layer.scale_v if np.ndim(layer.scale_v) == 0 else layer.scale_v[h]
            out[h] = codes[h] * (sv / (1 << OUT_FRAC))
        return {"out": out.astype(np.float32), "codes": codes, "head_alive": head_alive,
                "token_alive": token_alive, "tokens_alive": count}

    async def run_model(self, q_layers, k_layers, v_layers, mode="summarize", causal=True, prompt_len=None,
                        *, per_head_scale=False):
        """Run one sequence on the core, as ``golden.spatten.spatten_model`` computes it.

        ``q_layers``, ``k_layers``, ``v_layers``: lists per layer of float ``(H, L, D)``.
        ``"summarize"``: one step of all ``L`` rows; ``"generate"``: the first
        ``prompt_len`` rows, then one step per further token, every step through all
        layers with the whole cache re-quantised and re-written. Each command runs
        alone (a start of one command: the core keeps the sequence between starts),
        so that its counters are read. The DRAM the run allocates is given back.

        Returns a dict: ``outputs`` (per layer ``(H, L, D)`` float32), ``token_alive``
        (``(n_layers, L)``: the keys each layer used in its last command),
        ``head_alive`` (``(n_layers, H)``), ``refetch_counts`` (``(n_layers, steps)``:
        the rows that re-fetched LSBs, over heads, per layer command; the core tells
        counts, not rows), ``steps`` (``(lo, hi)`` per step), ``counters`` and
        ``counters_prompt`` (register totals over the run, and after the prompt),
        ``command_counters`` (per step, per layer: the command's counters).
        Raises :class:`CommandError` when the core rejects a command.
        """
        (n_layers, n_heads, length, d), steps = sequence_steps(q_layers, k_layers, v_layers, mode, prompt_len)
        mark = self.dram.next
        try:
            layout = self.prepare_sequence(n_layers, n_heads, length, d)
            return await self._run_steps(layout, steps, q_layers, k_layers, v_layers, mode, causal,
                                         per_head_scale)
        finally:
            self.dram.next = mark

    async def _run_steps(self, layout, steps, q_layers, k_layers, v_layers, mode, causal, per_head_scale):
        n_layers, n_heads, length, d = layout.n_layers, layout.n_heads, layout.length, layout.d
        outputs = [np.zeros((n_heads, length, d), dtype=np.float32) for _ in range(n_layers)]
        used = np.zeros((n_layers, length), dtype=bool)
        head_alive = np.ones((n_layers, n_heads), dtype=bool)
        refetch = np.zeros((n_layers, len(steps)), dtype=np.int64)
        totals, prompt, per_command = {}, None, []
        for s, (lo, hi) in enumerate(steps):
            step = self.sequence_step(layout, q_layers, k_layers, v_layers, lo, hi, mode=mode, causal=causal,
                                      fresh=s == 0, per_head_scale=per_head_scale)
            await self.write_step(layout, step)
            per_command.append([])
            for i, layer in enumerate(step):
                await self.start(layout.cmd_ptr + i * RECORD_BYTES, 1)
                await self.wait()
                counts = await self.counters()
                per_command[-1].append(counts)
                for name, value in counts.items():
                    totals[name] = totals.get(name, 0) + value
                res = await self.read_step_layer(layer)
                outputs[i][:, lo:hi] = res["out"]
                used[i] = False
                used[i, :hi] = res["token_alive"]
                head_alive[i] = res["head_alive"]
                refetch[i, s] = counts["ROWS_REFETCHED"]
            if s == 0:
                prompt = dict(totals)
        return {"outputs": outputs, "token_alive": used, "head_alive": head_alive,
                "refetch_counts": refetch, "steps": steps, "counters": totals, "counters_prompt": prompt,
                "command_counters": per_command}


@dataclass
class SequenceLayout:
    """The DRAM regions of a sequence (:meth:`SpattenDriver.prepare_sequence`): per layer the
    command fields of its bases and strides (``layers``), and where the records go (``cmd_ptr``)."""
    n_layers: int
    n_heads: int
    length: int
    d: int
    layers: list
    cmd_ptr: int


@dataclass
class StepLayer:
    """One layer command of a sequence step, the DRAM images it needs, its V scale (a float, or
    ``(H, 1, D)`` per channel, applied on the host) and its query rows ``lo..hi-1``."""
    command: Command
    images: list            # (address, bytes)
    scale_v: object
    lo: int
    hi: int
