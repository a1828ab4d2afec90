"""Registry of the generator's blocks: name -> factory(config) -> Component.

Every block that `make verilog` emits and `make synth` measures is listed here,
built from one :class:`gen.config.SpattenConfig`.
"""

__all__ = ["BLOCKS", "build_block", "TOPK_HEADS"]


def _topk(config):
    from hw.topk import topk_from_config

    return topk_from_config(config)


def _topk_rank(config):
    from hw.topk import TopKEngine

    return TopKEngine.rank_select_of(config.topk_parallelism, config.topk_score_bits)


def _topk_packer(config):
    from hw.zero_eliminator import ZeroEliminator

    return ZeroEliminator(lanes=config.topk_parallelism, shape=config.topk_score_bits, split=True)


def _qk(config):
    from hw.systolic.qk import qk_from_config

    return qk_from_config(config)


def _pv(config):
    from hw.systolic.pv import pv_from_config

    return pv_from_config(config)


def _softmax(config):
    from hw.softmax.softmax import softmax_from_config

    return softmax_from_config(config)


def _fetcher(config):
    from hw.fetcher import fetcher_from_config

    return fetcher_from_config(config)


def _head(config):
    """The datapath of one attention head (hw/core): every stage above joined, one AXI4 read port."""
    from hw.core import head_from_config

    return head_from_config(config)


# Heads per layer the head-importance top-k ranks at most (BERT-base and
# GPT-2 have 12, BERT-large 16, GPT-2 XL 25).
TOPK_HEADS = 32


def _topk_token(config):
    """Cascade token pruning: the token importances (golden.formats.TOKEN_IMPORTANCE, 32 bits)."""
    from golden.formats import TOKEN_IMPORTANCE
    from hw.topk import TopKEngine

    return TopKEngine(n_max=config.max_context, parallelism=config.topk_parallelism,
                      score_bits=TOKEN_IMPORTANCE.bits, signed=TOKEN_IMPORTANCE.signed)


def _topk_head(config):
    """Cascade head pruning: the head importances (golden.formats.HEAD_IMPORTANCE, 40 bits)."""
    from golden.formats import HEAD_IMPORTANCE
    from hw.topk import TopKEngine

    return TopKEngine(n_max=TOPK_HEADS, parallelism=min(4, config.topk_parallelism),
                      score_bits=HEAD_IMPORTANCE.bits, signed=HEAD_IMPORTANCE.signed)


# The host link of the ULX3S: its 25 MHz oscillator, the FTDI serial at 115200 baud.
BOARD_CLOCK_HZ = 25_000_000
BOARD_BAUD = 115_200


def _uart_bridge(config):
    """The board's UART to AXI4-Lite bridge (hw.board.bridge), at the ULX3S clock and baud rate."""
    from hw.board.bridge import UartBridge

    return UartBridge(clocks_per_bit=round(BOARD_CLOCK_HZ / BOARD_BAUD),
                      addr_bits=min(32, config.axi_addr_bits))


def _axil_regs(config):
    """The core's AXI4-Lite register block (hw.core.regmap)."""
    from hw.axi.lite import AxiLiteRegisters
    from hw.core.regmap import ADDR_BITS, register_map

    return AxiLiteRegisters(registers=register_map(config), addr_bits=ADDR_BITS)


def _command_reader(config):
    """Reads and checks layer commands (golden.command) over AXI4."""
    from hw.core.command_reader import command_reader_from_config

    return command_reader_from_config(config)


def _axi_write(config):
    """Writes output rows (golden.command.out_row_bytes) over AXI4."""
    from hw.axi.write import AxiWriteMaster
    from hw.core.control import write_master_args

    return AxiWriteMaster(**write_master_args(config))


def _axi_read_arbiter(config):
    """The command reader and the head datapath on one AXI4 read port (one ID bit names the master)."""
    from hw.axi.read_arbiter import AxiReadArbiter
    from hw.core.control import read_arbiter_args

    return AxiReadArbiter(**read_arbiter_args(config))


def _control_plane(config):
    """Registers, command list, read arbiter, write master and counters of the core (hw.core.control)."""
    from hw.core.control import ControlPlane

    return ControlPlane(config)


def _sequence_state(config):
    """Tokens, importances and head lists of a sequence; cascade token and head pruning (hw.core.sequence)."""
    from hw.core.sequence import sequence_state_from_config

    return sequence_state_from_config(config)


def _core(config):
    """The whole core: control plane, layer sequencer, sequence state, head datapath (hw.core.core)."""
    from hw.core.core import SpattenCore

    return SpattenCore(config)


# Filled as blocks land: name -> callable(SpattenConfig) -> wiring.Component.
# topk_rank and topk_packer are the engine's pivot picker and zero eliminator
# alone, so that their area and Fmax are reported beside the whole engine's.
# topk_token and topk_head rank the importances of cascade pruning.
BLOCKS = {"topk": _topk, "topk_rank": _topk_rank, "topk_packer": _topk_packer,
          "topk_token": _topk_token, "topk_head": _topk_head,
          "softmax": _softmax, "qk": _qk, "pv": _pv, "fetcher": _fetcher, "uart_bridge": _uart_bridge,
          "head": _head}
BLOCKS.update({"axil_regs": _axil_regs, "command_reader": _command_reader, "axi_write": _axi_write,
               "axi_read_arbiter": _axi_read_arbiter, "control_plane": _control_plane,
               "sequence_state": _sequence_state, "core": _core})


def build_block(name, config):
    try:
        factory = BLOCKS[name]
    except KeyError:
        raise ValueError(f"block must be one of {', '.join(sorted(BLOCKS))}, not {name!r}") from None
    return factory(config)
