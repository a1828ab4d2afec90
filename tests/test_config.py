"""gen.config: presets, validation messages, TOML loading, derived widths."""

import re
from dataclasses import fields, replace

import pytest

from gen.config import PRESETS, ConfigError, SpattenConfig, from_toml, load, preset


def _raises(message, **overrides):
    with pytest.raises(ConfigError, match=re.escape(message)):
        replace(PRESETS["paper"], **overrides)


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_load(name):
    config = preset(name)
    assert config.name == name
    assert config.msb_bits + config.lsb_bits == config.value_bits
    assert config == replace(config)  # re-validates without error


def test_preset_values():
    assert (PRESETS["paper"].qk_multipliers, PRESETS["paper"].max_context) == (512, 1024)
    assert (PRESETS["ulx3s"].multipliers, PRESETS["ulx3s"].max_context) == (128, 512)
    assert (PRESETS["tiny"].topk_parallelism, PRESETS["tiny"].head_dim) == (4, 8)


def test_preset_wrong():
    with pytest.raises(ConfigError, match=r"preset must be one of tiny, ulx3s, paper, not 'big'"):
        preset("big")
    with pytest.raises(ConfigError, match=r"preset must be one of .*, not \[1\]"):
        preset([1])


def test_name_wrong():
    _raises("name must be a non-empty string of letters, digits, '_', '-' and '.' "
            "(starting with a letter or digit), not 'a/b'", name="a/b")
    _raises("name must be a non-empty string", name="")
    _raises("name must be a non-empty string", name=3)


@pytest.mark.parametrize("field", ["head_dim", "max_context", "topk_parallelism", "lsb_bits"])
def test_integer_wrong(field):
    _raises(f"{field} must be an integer, not 2.5", **{field: 2.5})
    _raises(f"{field} must be an integer, not True", **{field: True})


def test_integer_coerced():
    import numpy as np

    config = replace(PRESETS["tiny"], max_context=np.int64(32))
    assert type(config.max_context) is int and config.max_context == 32


@pytest.mark.parametrize("field", ["requant_threshold", "token_keep_final", "value_keep"])
def test_number_wrong(field):
    _raises(f"{field} must be a number, not '0.5'", **{field: "0.5"})
    _raises(f"{field} must be a number, not False", **{field: False})


@pytest.mark.parametrize("field, lo, hi", [
    ("head_dim", 1, 256), ("max_context", 1, 65536), ("qk_multipliers", 1, 4096),
    ("pv_multipliers", 1, 4096), ("softmax_lanes", 1, 64), ("softmax_fifo_depth", 2, 4096),
    ("topk_score_bits", 2, 64), ("value_bits", 2, 16), ("msb_bits", 1, 15), ("lsb_bits", 1, 15),
])
def test_range_wrong(field, lo, hi):
    _raises(f"{field} must be in {lo}..{hi}, not {lo - 1}", **{field: lo - 1})
    _raises(f"{field} must be in {lo}..{hi}, not {hi * 2}", **{field: hi * 2})


@pytest.mark.parametrize("field", ["requant_threshold", "token_prune_start", "head_prune_start"])
def test_fraction_range_wrong(field):
    _raises(f"{field} must be in 0.0..1.0, not 1.5", **{field: 1.5})
    _raises(f"{field} must be in 0.0..1.0, not -0.1", **{field: -0.1})


@pytest.mark.parametrize("value", [3, 1, 64, 128, 12])
def test_topk_parallelism_wrong(value):
    _raises(f"topk_parallelism must be a power of two in 2..32, not {value}", topk_parallelism=value)


@pytest.mark.parametrize("field, value", [("head_dim", 48), ("softmax_lanes", 6)])
def test_power_of_two_wrong(field, value):
    _raises(f"{field} must be a power of two, not {value}", **{field: value})


@pytest.mark.parametrize("field", ["qk_multipliers", "pv_multipliers"])
def test_multipliers_wrong(field):
    _raises(f"{field} must be a multiple of head_dim (64) in 64..4096, not 96", **{field: 96})
    _raises(f"{field} must be a multiple of head_dim (64) in 64..4096, not 32", **{field: 32})
    _raises(f"{field} must be a multiple of head_dim (8) in 8..512, not 520", head_dim=8, **{field: 520})
    assert getattr(replace(PRESETS["paper"], **{field: 192}), field) == 192


def test_msb_lsb_wrong():
    _raises("msb_bits + lsb_bits must equal value_bits (12), not 8 + 3", lsb_bits=3)


@pytest.mark.parametrize("field", ["token_keep_final", "head_keep_final", "value_keep"])
def test_keep_wrong(field):
    _raises(f"{field} must be in (0, 1], not 0.0", **{field: 0.0})
    _raises(f"{field} must be in (0, 1], not 1.01", **{field: 1.01})
    assert getattr(replace(PRESETS["paper"], **{field: 1}), field) == 1.0


@pytest.mark.parametrize("max_context, index_bits, count_bits", [
    (1, 1, 1), (2, 1, 2), (64, 6, 7), (512, 9, 10), (1000, 10, 10), (1024, 10, 11), (65536, 16, 17),
])
def test_derived_widths(max_context, index_bits, count_bits):
    config = replace(PRESETS["tiny"], max_context=max_context)
    assert (config.index_bits, config.count_bits) == (index_bits, count_bits)
    assert config.multipliers == config.qk_multipliers + config.pv_multipliers == 32


def test_to_dict_round_trip():
    data = PRESETS["ulx3s"].to_dict()
    assert set(data) == {f.name for f in fields(SpattenConfig)}
    assert SpattenConfig(**data) == PRESETS["ulx3s"]


def _toml(tmp_path, text, name="mine.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_toml_fields(tmp_path):
    config = from_toml(_toml(tmp_path, "max_context = 256\ntopk_parallelism = 8\n"))
    assert (config.max_context, config.topk_parallelism, config.head_dim) == (256, 8, 64)
    assert config.name == "mine"  # a changed configuration is named after its file


def test_toml_preset_base(tmp_path):
    config = from_toml(_toml(tmp_path, 'preset = "ulx3s"\nmax_context = 256\n'))
    assert config.qk_multipliers == PRESETS["ulx3s"].qk_multipliers == 64
    assert config.max_context == 256
    assert config.name == "mine"  # never the preset's name: its build folder stays apart
    assert from_toml(_toml(tmp_path, 'preset = "tiny"\n')) == PRESETS["tiny"]
    assert from_toml(_toml(tmp_path, 'preset = "tiny"\nname = "t2"\nhead_dim = 16\n')).name == "t2"


def test_toml_unknown_key_wrong(tmp_path):
    path = _toml(tmp_path, "max_context = 256\nparallelism = 8\nfoo = 1\n")
    with pytest.raises(ConfigError, match=r"unknown configuration key\(s\) in .*mine.toml: foo, parallelism; "
                                          r"allowed: .*topk_parallelism"):
        from_toml(path)


def test_toml_preset_wrong(tmp_path):
    with pytest.raises(ConfigError, match="preset must be one of tiny, ulx3s, paper, not 'huge'"):
        from_toml(_toml(tmp_path, 'preset = "huge"\n'))


def test_toml_value_wrong(tmp_path):
    with pytest.raises(ConfigError, match="topk_parallelism must be a power of two in 2..32, not 5"):
        from_toml(_toml(tmp_path, "topk_parallelism = 5\n"))


def test_load():
    assert load() == PRESETS["tiny"]
    assert load("paper") == PRESETS["paper"]


# Memory port (the fetcher's AXI4 read master).

def test_memory_port_values():
    assert (PRESETS["ulx3s"].axi_data_bits, PRESETS["ulx3s"].axi_outstanding) == (64, 16)
    assert PRESETS["paper"].axi_data_bits == 128
    assert (PRESETS["tiny"].axi_data_bits, PRESETS["tiny"].axi_addr_bits) == (32, 32)


@pytest.mark.parametrize("value", [16, 48, 2048])
def test_axi_data_bits_wrong(value):
    _raises(f"axi_data_bits must be a power of two in 32..1024, not {value}", axi_data_bits=value)


@pytest.mark.parametrize("field, lo, hi", [("axi_addr_bits", 16, 64), ("axi_id_bits", 1, 16),
                                           ("axi_outstanding", 1, 256)])
def test_memory_port_range_wrong(field, lo, hi):
    _raises(f"{field} must be in {lo}..{hi}, not {lo - 1}", **{field: lo - 1})
    _raises(f"{field} must be in {lo}..{hi}, not {hi + 1}", **{field: hi + 1})


def test_memory_port_integer_wrong():
    _raises("axi_outstanding must be an integer, not 2.5", axi_outstanding=2.5)


@pytest.mark.parametrize("field, allowed", [("k_scale", "'tensor', 'channel'"),
                                            ("v_scale", "'tensor', 'token', 'channel'")])
def test_scale_kind_wrong(field, allowed):
    _raises(f"{field} must be one of {allowed}, not 'group'", **{field: "group"})
    _raises(f"{field} must be one of {allowed}, not 1", **{field: 1})


@pytest.mark.parametrize("field", ["k_zero_point", "v_zero_point", "token_importance_norm",
                                   "token_prune_prefill"])
def test_traffic_bool_wrong(field):
    _raises(f"{field} must be a bool, not 1", **{field: 1})


@pytest.mark.parametrize("field", ["token_protect_sinks", "token_protect_recent", "token_keep_min"])
def test_traffic_count_wrong(field):
    _raises(f"{field} must be an integer, not True", **{field: True})
    _raises(f"{field} must be an integer, not 2.0", **{field: 2.0})
    _raises(f"{field} must be in 0..1024, not -1", **{field: -1})
    _raises(f"{field} must be in 0..1024, not 1025", **{field: 1025})


def test_zero_point_needs_channel_scales_wrong():
    _raises("k_zero_point needs k_scale='channel', not 'tensor'", k_zero_point=True)
    _raises("v_zero_point needs v_scale='channel', not 'token'", v_scale="token", v_zero_point=True)
    assert replace(PRESETS["paper"], v_scale="channel", v_zero_point=True).v_zero_point


def test_traffic_options_off_in_rtl_presets():
    # The RTL does not implement the traffic options yet: the presets it follows keep them off.
    for name in ("tiny", "ulx3s", "paper"):
        cfg = PRESETS[name]
        assert (cfg.k_scale, cfg.v_scale) == ("tensor", "tensor")
        assert not (cfg.k_zero_point or cfg.v_zero_point)
        assert (cfg.token_protect_sinks, cfg.token_protect_recent, cfg.token_keep_min) == (0, 0, 0)
        assert not cfg.token_importance_norm and cfg.token_prune_prefill


def test_toml_traffic_options(tmp_path):
    text = 'k_scale = "channel"\nk_zero_point = true\ntoken_protect_recent = 32\n'
    config = from_toml(_toml(tmp_path, text))
    assert (config.k_scale, config.k_zero_point, config.token_protect_recent) == ("channel", True, 32)


def test_eval_choice():
    # The evaluation's choice: the new fields' defaults, on the paper's architecture.
    from gen.config import EVAL
    base = SpattenConfig()
    assert EVAL.name == "eval" and "eval" not in PRESETS
    for name in ("k_scale", "k_zero_point", "v_scale", "v_zero_point", "token_protect_sinks",
                 "token_protect_recent", "token_importance_norm", "token_keep_min", "token_prune_prefill"):
        assert getattr(EVAL, name) == getattr(base, name)
    assert EVAL.msb_bits + EVAL.lsb_bits == EVAL.value_bits
    assert (EVAL.head_dim, EVAL.max_context, EVAL.qk_multipliers) == (64, 1024, 512)
