"""The SpAtten core's AXI4-Lite register map: the one description of it.

:func:`register_map` lists the registers of a configuration;
:class:`hw.axi.lite.AxiLiteRegisters` decodes them in hardware, and
``gen.regmap`` writes the C header, the Python module and the README table
with the same names and offsets. The error codes in ``STATUS.error_code``
are ``golden.command.Error``.

Use: write ``CMD_PTR_LO/HI`` (the first record, a multiple of
``golden.command.RECORD_BYTES``) and ``CMD_COUNT``, write ``CTRL.start``;
``STATUS.busy`` falls when the list is done (``STATUS.done``) or a command
failed (``STATUS.error``, ``error_code`` naming the field, ``command`` its
index); ``CTRL.clear`` clears ``done`` and ``error``, ``CTRL.soft_reset``
stops the core and clears its state (the registers keep their values).
The ``DECODED_*`` registers show the last command the core read. Counters
(saturating, 64 bits: read ``_LO`` first, it latches ``_HI``) count from
``CTRL.start`` in total, and the ``LAYER_*`` copies hold the counts of the
last layer command completed.
"""

from golden.command import MAX_HEADS, RECORD_BYTES

from ..axi.lite import Field, Register

__all__ = ["ID", "VERSION", "ADDR_BITS", "COUNTERS", "register_map"]

#: ``ID`` register: "SPAT" in ASCII.
ID = 0x5350_4154
#: ``VERSION``: major << 16 | minor of this register map.
VERSION = 0x0001_0001
#: The map spans 4 KB.
ADDR_BITS = 12

#: The 64-bit counters (saturating), in address order from 0x100.
COUNTERS = (
    ("CYCLES_BUSY", "cycles with STATUS.busy high"),
    ("CYCLES_STALLED", "busy cycles in which no stage moved data"),
    ("BYTES_READ_CMD", "DRAM bytes read: command records"),
    ("BYTES_READ_Q", "DRAM bytes read: Q rows"),
    ("BYTES_READ_K_MSB", "DRAM bytes read: K MSB plane"),
    ("BYTES_READ_K_LSB", "DRAM bytes read: K LSB plane"),
    ("BYTES_READ_V_MSB", "DRAM bytes read: V MSB plane"),
    ("BYTES_READ_V_LSB", "DRAM bytes read: V LSB plane"),
    ("BYTES_WRITTEN", "DRAM bytes written: output rows"),
    ("MACS", "multiply-accumulates, Q x K and prob x V"),
    ("ROWS_REFETCHED", "query rows that re-fetched LSBs"),
    ("TOKENS_PRUNED", "tokens pruned by cascade token pruning"),
    ("HEADS_PRUNED", "heads pruned by cascade head pruning"),
    ("COMMANDS_DONE", "layer commands completed"),
)


def register_map(cfg):
    """The registers of the core built from ``cfg`` (a ``SpattenConfig``)."""
    regs = [
        Register("ID", 0x000, "const", "identifies the core: 'SPAT'", value=ID),
        Register("VERSION", 0x004, "const", "register map version, major << 16 | minor", value=VERSION),
        Register("CFG_MAX_CONTEXT", 0x008, "const", "largest L (keys) of a command", value=cfg.max_context),
        Register("CFG_HEAD_DIM", 0x00C, "const", "largest D of a command", value=cfg.head_dim),
        Register("CFG_QK_MULTIPLIERS", 0x010, "const", "multipliers of the Q x K array",
                 value=cfg.qk_multipliers),
        Register("CFG_PV_MULTIPLIERS", 0x014, "const", "multipliers of the prob x V array",
                 value=cfg.pv_multipliers),
        Register("CFG_BITS", 0x018, "const", "value, MSB-plane and LSB-plane bits",
                 value=cfg.value_bits | cfg.msb_bits << 8 | cfg.lsb_bits << 16,
                 fields=(Field("value_bits", 0, 8), Field("msb_bits", 8, 8), Field("lsb_bits", 16, 8))),
        Register("CFG_AXI", 0x01C, "const", "memory port: data and address bits",
                 value=cfg.axi_data_bits | cfg.axi_addr_bits << 16,
                 fields=(Field("data_bits", 0, 16), Field("addr_bits", 16, 8))),
        Register("CFG_LIMITS", 0x020, "const", "heads per command and bytes per command record",
                 value=MAX_HEADS | RECORD_BYTES << 16,
                 fields=(Field("max_heads", 0, 16), Field("record_bytes", 16, 16))),
        Register("CTRL", 0x040, "pulse", "write 1 to act",
                 fields=(Field("start", 0, doc="run CMD_COUNT commands from CMD_PTR"),
                         Field("soft_reset", 1, doc="stop and clear the core's state"),
                         Field("clear", 2, doc="clear STATUS.done and STATUS.error"))),
        Register("STATUS", 0x044, "ro", "state of the core",
                 fields=(Field("busy", 0), Field("done", 1), Field("error", 2),
                         Field("error_code", 8, 8, doc="golden.command.Error"),
                         Field("command", 16, 16, doc="index of the running or failed command"))),
        Register("CMD_PTR_LO", 0x048, "rw", "command list address, bits 31..0"),
        Register("CMD_PTR_HI", 0x04C, "rw", "command list address, bits 63..32"),
        Register("CMD_COUNT", 0x050, "rw", "commands in the list", bits=16),
        Register("IRQ_ENABLE", 0x054, "rw", "interrupt on STATUS.done / STATUS.error",
                 bits=2, fields=(Field("done", 0), Field("error", 1))),
        Register("DECODED_CONTROL", 0x080, "ro", "last command read: mode, last, fresh and causal flags",
                 bits=11, fields=(Field("mode", 0, 8), Field("last", 8), Field("fresh", 9),
                                  Field("causal", 10))),
        Register("DECODED_KEYS", 0x084, "ro", "last command read: L", bits=32),
        Register("DECODED_ROWS", 0x088, "ro", "last command read: query rows", bits=32),
        Register("DECODED_HEAD_DIM", 0x08C, "ro", "last command read: D", bits=32),
        Register("DECODED_HEADS", 0x090, "ro", "last command read: heads", bits=32),
        Register("DECODED_KEEP", 0x094, "ro", "last command read: token and head keep counts",
                 fields=(Field("token_keep", 0, 16), Field("head_keep", 16, 16))),
        Register("DECODED_LAYER", 0x098, "ro", "last command read: layer index", bits=32),
    ]
    regs += [Register(name, 0x100 + 8 * i, "counter", doc) for i, (name, doc) in enumerate(COUNTERS)]
    regs += [Register(f"LAYER_{name}", 0x200 + 8 * i, "counter", f"{doc}, last layer command")
             for i, (name, doc) in enumerate(COUNTERS)]
    return regs
