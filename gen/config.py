"""One typed, validated configuration for golden, hw, tests and reports.

A :class:`SpattenConfig` is a frozen dataclass. Every field is checked in
``__post_init__``; a bad value raises :class:`ConfigError` (a ``ValueError``)
whose message names the field and the allowed range. Presets are built with
:func:`dataclasses.replace` from the defaults, and a configuration can be read
from a TOML file whose keys are the field names (optionally with
``preset = "name"`` to start from a preset).
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

__all__ = ["ConfigError", "SpattenConfig", "PRESETS", "EVAL", "preset", "load", "from_toml"]


class ConfigError(ValueError):
    """A configuration value is out of its allowed range."""


#: Allowed values of ``k_scale`` and ``v_scale``.
K_SCALES = ("tensor", "channel")
V_SCALES = ("tensor", "token", "channel")


def _is_pow2(value):
    return value > 0 and value & (value - 1) == 0


@dataclass(frozen=True)
class SpattenConfig:
    """Parameters of one SpAtten instance.

    Attributes
    ----------
    name : str
        Preset name, or ``"custom"``.
    head_dim : int
        D, the head dimension (elements per Q/K/V row).
    max_context : int
        Largest number of tokens a head attends to (K/V buffer depth).
    qk_multipliers : int
        Multipliers in the Q x K array.
    pv_multipliers : int
        Multipliers in the prob x V array.
    softmax_lanes : int
        Scores the softmax unit takes per cycle.
    softmax_fifo_depth : int
        Depth of the softmax score FIFO.
    topk_parallelism : int
        P, comparators per side in the top-k engine (power of two, 2..32).
    topk_score_bits : int
        Width of the scores ranked by the top-k engine.
    topk_engines : int
        Top-k engines side by side for local value pruning (round-robin,
        results in order: ``hw.topk.TopKInterleave``), enough to keep up
        with a Q x K row (``golden.topk_cycles.stream_cycles``).
    value_bits : int
        On-chip width of Q, K and V elements (MSB + LSB planes).
    msb_bits : int
        Bits of the MSB plane fetched first (progressive quantization).
    lsb_bits : int
        Bits of the LSB plane fetched on demand (1..15).
    requant_threshold : float
        Re-fetch LSBs of a row whose largest probability is below this.
    token_prune_start : float
        Fraction of layers (from the first) that keep every token.
    token_keep_final : float
        Token keep ratio of the last layer; ratios fall linearly to it.
    head_prune_start : float
        Fraction of layers that keep every head.
    head_keep_final : float
        Head keep ratio of the last layer.
    value_keep : float
        Local value pruning: fraction of V rows kept per query row.
    axi_data_bits : int
        Memory port (the fetcher's AXI4 read master): data width, a power of two in 32..1024.
    axi_addr_bits : int
        Memory port address width, 16..64.
    axi_id_bits : int
        Memory port ID width, 1..16 (the fetcher reads with one ID: in-order data).
    axi_outstanding : int
        Read bursts the fetcher keeps in flight, 1..256.
    k_scale : str
        K quantization scales: ``"tensor"`` (one per layer, or per head) or
        ``"channel"`` (one per head and channel, folded into Q before Q x K).
    k_zero_point : bool
        Per-channel K centres (asymmetric K); needs ``k_scale="channel"``.
        The centre's term is the same for every key of a row, so the softmax
        cancels it: nothing is stored or computed.
    v_scale : str
        V scales: ``"tensor"``, ``"token"`` (an 8-bit code per V row, stored
        with the row and folded into the probability) or ``"channel"``
        (folded into the output).
    v_zero_point : bool
        Per-channel V centres added to the output (times the sum of the kept
        probabilities); needs ``v_scale="channel"``.
    token_protect_sinks : int
        Causal calls never prune the first this many tokens (attention sinks).
    token_protect_recent : int
        Causal calls never prune the newest this many tokens.
    token_importance_norm : bool
        Causal calls rank tokens by importance divided by the number of
        query rows that have seen each token (no recency bias).
    token_keep_min : int
        Token pruning keeps at least this many tokens (``0``: no floor): short
        inputs are pruned less than long ones.
    token_prune_prefill : bool
        Token pruning in calls of several query rows (a prompt's prefill, a
        summarisation, an encoder). ``False``: only decoding steps prune, ranked
        by what the prefill accumulated (the prompt's hidden states stay dense).
    """

    name: str = "custom"
    head_dim: int = 64
    max_context: int = 1024
    qk_multipliers: int = 512
    pv_multipliers: int = 512
    softmax_lanes: int = 8
    softmax_fifo_depth: int = 128
    topk_parallelism: int = 16
    topk_score_bits: int = 16
    # Three engines at P = 16, n = 1024: about 0.7 of the Q x K row time
    # (two: 1.0, one: 2.0).
    topk_engines: int = 3
    value_bits: int = 12
    msb_bits: int = 8
    lsb_bits: int = 4
    # Algorithm defaults: the largest DRAM reduction measured within 1% quality
    # loss on real models without fine-tuning (`make eval`, README): 8-bit MSB
    # planes, no LSB re-fetch, no pruning. The `paper` preset prunes.
    requant_threshold: float = 0.0
    token_prune_start: float = 0.15
    token_keep_final: float = 1.0
    head_prune_start: float = 0.3
    head_keep_final: float = 1.0
    value_keep: float = 1.0
    # Memory port (AXI4 read master of the fetcher).
    axi_data_bits: int = 128
    axi_addr_bits: int = 32
    axi_id_bits: int = 4
    axi_outstanding: int = 16
    # Training-free traffic options (issue 14, costs in golden.formats): the
    # defaults are what `make eval` chose (README); the presets the RTL follows
    # (tiny, ulx3s, paper) turn them off until the RTL implements them (_OFF),
    # and EVAL is the chosen setting whole.
    k_scale: str = "channel"
    k_zero_point: bool = True
    v_scale: str = "token"
    v_zero_point: bool = False
    token_protect_sinks: int = 4
    token_protect_recent: int = 32
    token_importance_norm: bool = True
    token_keep_min: int = 0
    token_prune_prefill: bool = False

    def __post_init__(self):
        # The name becomes a build folder and part of report file names.
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.name):
            raise ConfigError(f"name must be a non-empty string of letters, digits, '_', '-' and '.' "
                              f"(starting with a letter or digit), not {self.name!r}")
        ints = ("head_dim", "max_context", "qk_multipliers", "pv_multipliers",
                "softmax_lanes", "softmax_fifo_depth", "topk_parallelism",
                "topk_score_bits", "topk_engines", "value_bits", "msb_bits", "lsb_bits",
                "axi_data_bits", "axi_addr_bits", "axi_id_bits", "axi_outstanding")
        for name in ints:
            value = getattr(self, name)
            if isinstance(value, bool):
                raise ConfigError(f"{name} must be an integer, not {value!r}")
            try:
                object.__setattr__(self, name, operator.index(value))
            except TypeError:
                raise ConfigError(f"{name} must be an integer, not {value!r}") from None
        for name in ("requant_threshold", "token_prune_start", "token_keep_final",
                     "head_prune_start", "head_keep_final", "value_keep"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name} must be a number, not {value!r}")
            object.__setattr__(self, name, float(value))

        self._range("head_dim", 1, 256)
        self._range("max_context", 1, 65536)
        self._range("qk_multipliers", 1, 4096)
        self._range("pv_multipliers", 1, 4096)
        self._range("softmax_lanes", 1, 64)
        self._range("softmax_fifo_depth", 2, 4096)
        self._range("topk_score_bits", 2, 64)
        self._range("topk_engines", 1, 16)
        self._range("value_bits", 2, 16)
        self._range("msb_bits", 1, 15)
        # The fetcher reads an LSB plane (hw.fetcher: lsb_bits 1..15).
        self._range("lsb_bits", 1, 15)
        # The top-k engine's pivot picker keeps one copy of each pivot per two lanes, at most 16.
        if not _is_pow2(self.topk_parallelism) or not 2 <= self.topk_parallelism <= 32:
            raise ConfigError(f"topk_parallelism must be a power of two in 2..32, "
                              f"not {self.topk_parallelism!r}")
        for name in ("head_dim", "softmax_lanes"):
            if not _is_pow2(getattr(self, name)):
                raise ConfigError(f"{name} must be a power of two, not {getattr(self, name)!r}")
        # The arrays (hw/systolic) hold whole rows of head_dim multipliers, at most 64 of them.
        for name in ("qk_multipliers", "pv_multipliers"):
            mults = getattr(self, name)
            most = min(4096, 64 * self.head_dim)
            if mults % self.head_dim or mults > most:
                raise ConfigError(f"{name} must be a multiple of head_dim ({self.head_dim}) "
                                  f"in {self.head_dim}..{most}, not {mults!r}")
        if self.msb_bits + self.lsb_bits != self.value_bits:
            raise ConfigError(f"msb_bits + lsb_bits must equal value_bits ({self.value_bits}), "
                              f"not {self.msb_bits} + {self.lsb_bits}")
        self._range("requant_threshold", 0.0, 1.0)
        self._range("token_prune_start", 0.0, 1.0)
        self._range("head_prune_start", 0.0, 1.0)
        for name in ("token_keep_final", "head_keep_final", "value_keep"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ConfigError(f"{name} must be in (0, 1], not {value!r}")

        self._check_memory_port()
        self._check_traffic_options()

    def _check_traffic_options(self):
        for name, allowed in (("k_scale", K_SCALES), ("v_scale", V_SCALES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(map(repr, allowed))}, "
                                  f"not {getattr(self, name)!r}")
        for name in ("k_zero_point", "v_zero_point", "token_importance_norm", "token_prune_prefill"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be a bool, not {getattr(self, name)!r}")
        for name in ("token_protect_sinks", "token_protect_recent", "token_keep_min"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} must be an integer, not {value!r}")
            self._range(name, 0, self.max_context)
        if self.k_zero_point and self.k_scale != "channel":
            raise ConfigError(f"k_zero_point needs k_scale='channel', not {self.k_scale!r}")
        if self.v_zero_point and self.v_scale != "channel":
            raise ConfigError(f"v_zero_point needs v_scale='channel', not {self.v_scale!r}")

    def _check_memory_port(self):
        if not _is_pow2(self.axi_data_bits) or not 32 <= self.axi_data_bits <= 1024:
            raise ConfigError(f"axi_data_bits must be a power of two in 32..1024, not {self.axi_data_bits!r}")
        self._range("axi_addr_bits", 16, 64)
        self._range("axi_id_bits", 1, 16)
        self._range("axi_outstanding", 1, 256)

    def _range(self, name, lo, hi):
        value = getattr(self, name)
        if not lo <= value <= hi:
            raise ConfigError(f"{name} must be in {lo}..{hi}, not {value!r}")

    # Derived quantities: one place for widths that several blocks share.

    @property
    def index_bits(self):
        """Bits of a token index 0..max_context-1 (at least 1)."""
        return max(1, math.ceil(math.log2(self.max_context)))

    @property
    def count_bits(self):
        """Bits of a count 0..max_context (a k or an n)."""
        return self.max_context.bit_length()

    @property
    def multipliers(self):
        """Multipliers of both arrays together."""
        return self.qk_multipliers + self.pv_multipliers

    def to_dict(self):
        return dataclasses.asdict(self)


_BASE = SpattenConfig()
# The traffic options off: what the RTL computes today.
_OFF = {name: value for name, value in (("k_scale", "tensor"), ("k_zero_point", False), ("v_scale", "tensor"),
                                        ("v_zero_point", False), ("token_protect_sinks", 0),
                                        ("token_protect_recent", 0), ("token_importance_norm", False),
                                        ("token_keep_min", 0), ("token_prune_prefill", True))}
# The paper's architecture and pruning of its kind: progressive quantization
# with a 0.1 threshold, token keep falling to 0.5, head keep to 0.9, half the V
# rows kept. The paper fine-tunes for these; without it see `make eval`.
_PAPER = replace(_BASE, name="paper", requant_threshold=0.1, token_keep_final=0.5,
                 head_keep_final=0.9, value_keep=0.5, **_OFF)
# The paper's architecture with the setting `make eval` chose (README, "Quality on real models"):
# 6-bit MSB planes with per-channel K (centred) and per-token V scales, no LSB re-fetch, no
# token pruning (causal token pruning costs more than 1% in summarisation; in generation only
# decoding steps would prune, token_prune_prefill=False).
_EVAL = replace(_BASE, name="eval", msb_bits=6, lsb_bits=4, value_bits=10, requant_threshold=0.0,
                token_keep_final=1.0, head_keep_final=1.0, value_keep=1.0)

PRESETS = {
    # Small enough for fast co-simulation; exercises every width path.
    "tiny": replace(_BASE, name="tiny", head_dim=8, max_context=64, **_OFF,
                    qk_multipliers=16, pv_multipliers=16, softmax_lanes=2,
                    softmax_fifo_depth=16, topk_parallelism=4, topk_score_bits=12, topk_engines=1,
                    axi_data_bits=32, axi_outstanding=4),
    # ULX3S ECP5-85F: 156 MULT18X18D in all; 128 for the two arrays leaves room
    # for the softmax. K and V buffers of 512 x 64 x 12 bit take 96 of the 208 EBRs.
    # Top-k P = 4: twice the softmax lanes, as in the paper (16 for 8), and the
    # smallest P that keeps up with the Q x K array's one score per cycle (a
    # top-k of 512 scores takes about 430-520 cycles at P = 4, 880-900 at
    # P = 2: golden.topk_cycles). Its buffers (128 rows) go to block RAM.
    # One engine: back to back, 0.86-0.97 of the 512-cycle row time.
    "ulx3s": replace(_BASE, name="ulx3s", max_context=512, **_OFF,
                     qk_multipliers=64, pv_multipliers=64, softmax_lanes=2,
                     softmax_fifo_depth=64, topk_parallelism=4, topk_engines=1,
                     # ULX3S SDRAM behind a 64-bit port; 16 bursts in flight hide 50 cycles of
                     # latency behind 8-beat (one 64-byte MSB row) bursts.
                     axi_data_bits=64, axi_outstanding=16),
    # The SpAtten paper's ASIC: 512 multipliers per array, D=64, context 1024,
    # P=16, 8 softmax lanes, 12-bit on-chip values.
    "paper": _PAPER,
}
#: The setting `make eval` chose, on the paper's architecture: not a preset (the RTL does not
#: implement its traffic options yet, and the presets are what hardware tests build).
EVAL = _EVAL


def preset(name):
    """Return the named preset; raise :class:`ConfigError` for an unknown name."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, not {name!r}") from None


def from_toml(path):
    """Read a configuration from a TOML file of field names (and ``preset``)."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    base = preset(data.pop("preset", "paper"))
    known = {f.name for f in fields(SpattenConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown configuration key(s) in {path}: {', '.join(unknown)}; "
                          f"allowed: {', '.join(sorted(known))}")
    # A file that changes a preset is a new configuration: named after the file,
    # so its build folder and reports never overwrite the preset's.
    data.setdefault("name", Path(path).stem if data else base.name)
    return replace(base, **data)


def load(preset_name=None, config_path=None):
    """A configuration from a TOML path if given, else from a preset name."""
    if config_path:
        return from_toml(config_path)
    return preset(preset_name or "tiny")
