"""SpattenAttention: cascade pruning, progressive quantization, counters, float twin."""

import dataclasses

import numpy as np
import pytest

from gen.config import preset
from golden.pruning import keep_count, keep_ratio
from golden.spatten import SpattenAttention, attend_head, spatten_layer, spatten_model

SEED = 29
CFG = preset("paper")
DENSE = dataclasses.replace(CFG, token_keep_final=1.0, head_keep_final=1.0, value_keep=1.0)


def _qkv(n_layers=6, h=4, length=48, d=16, seed=SEED, peak=2.0):
    rng = np.random.default_rng(seed)
    print("seed", seed)
    q = [rng.normal(size=(h, length, d)) * peak for _ in range(n_layers)]
    k = [rng.normal(size=(h, length, d)) * peak for _ in range(n_layers)]
    v = [rng.normal(size=(h, length, d)) for _ in range(n_layers)]
    return q, k, v


def test_dense_fixed_point_close_to_float():
    q, k, v = _qkv()
    full = dataclasses.replace(DENSE, msb_bits=12, lsb_bits=4, value_bits=16)
    fx = spatten_model(q, k, v, full, progressive=False)
    fl = spatten_model(q, k, v, full, exact=True)
    for a, b in zip(fx["outputs"], fl["outputs"], strict=True):
        assert np.abs(a - b).max() < 2e-3 * np.abs(b).max()
    fx8 = spatten_model(q, k, v, DENSE)                      # MSB-only 8 bits mostly
    err8 = max(np.abs(a - b).max() for a, b in zip(fx8["outputs"], fl["outputs"], strict=True))
    assert err8 < 0.05 * max(np.abs(b).max() for b in fl["outputs"])


def test_token_cascade_schedule_and_never_fetched():
    q, k, v = _qkv()
    res = spatten_model(q, k, v, CFG, causal=False)
    alive = res["token_alive"]
    for layer in range(6):
        assert alive[layer].sum() == keep_count(keep_ratio(layer, 6, 0.15, 0.5), 48)
        if layer:
            assert not np.any(alive[layer] & ~alive[layer - 1])    # cascade: never revived
    c = res["counters"]
    assert c["keys_fetched"] == sum(int(alive[l].sum()) * 4 for l in range(6))
    assert c["dram_bytes_k_msb"] == c["keys_fetched"] * 16      # 16 x 8 bit
    assert c["dram_bytes_dense"] == 6 * 4 * 48 * 16 * 2 * 2


def test_pruned_tokens_do_not_matter():
    q, k, v = _qkv()
    res = spatten_model(q, k, v, CFG, causal=False)
    dead = ~res["token_alive"][5]
    k2 = [x.copy() for x in k]
    v2 = [x.copy() for x in v]
    k2[5][:, dead] = 100.0
    v2[5][:, dead] = -100.0
    res2 = spatten_model(q, k2, v2, dataclasses.replace(CFG), causal=False)
    # scales differ (max|k| changed), so compare pruning decisions, and outputs with a fixed scale
    assert np.array_equal(res2["token_alive"], res["token_alive"])
    fl = spatten_model(q, k, v, CFG, causal=False, exact=True)
    fl2 = spatten_model(q, k2, v2, CFG, causal=False, exact=True)
    assert np.array_equal(fl["outputs"][5], fl2["outputs"][5])


def test_head_pruning_zero_outputs():
    q, k, v = _qkv(n_layers=10, h=8)
    cfg = dataclasses.replace(CFG, head_keep_final=0.5, head_prune_start=0.2)
    res = spatten_model(q, k, v, cfg)
    ha = res["head_alive"]
    assert ha[:2].all() and ha[-1].sum() == 4
    for layer in range(1, 10):
        assert not np.any(ha[layer] & ~ha[layer - 1])
        assert np.all(res["outputs"][layer][~ha[layer]] == 0)
        assert np.all(np.abs(res["outputs"][layer][ha[layer]]).max(axis=(1, 2)) > 0)
    assert res["counters"]["heads_pruned"] == (~ha).sum()


def test_progressive_refetch_matches_full_precision_rows():
    q, k, v = _qkv(n_layers=1, peak=1.0)                    # flat rows: many re-fetch
    cfg = dataclasses.replace(DENSE, requant_threshold=0.1)
    prog = spatten_layer(q[0], k[0], v[0], cfg)
    full = spatten_layer(q[0], k[0], v[0], cfg, progressive=False)
    rf = prog["refetch"]
    assert 0 < rf.sum() < rf.size
    assert np.array_equal(prog["out"][rf], full["out"][rf])
    assert not np.array_equal(prog["out"][~rf], full["out"][~rf])
    c = prog["counters"]
    assert c["rows_refetched"] == rf.sum() and c["dram_bytes_k_lsb"] > 0
    never = spatten_layer(q[0], k[0], v[0], dataclasses.replace(cfg, requant_threshold=0.0))
    assert never["counters"]["dram_bytes_k_lsb"] == 0 and not never["refetch"].any()
    assert never["counters"]["macs_qk"] < c["macs_qk"]


def test_value_pruning_counts():
    q, k, v = _qkv(n_layers=1)
    res = spatten_layer(q[0], k[0], v[0], CFG, causal=True)
    visible = np.arange(1, 49)
    assert np.array_equal(res["values_kept"][0], np.ceil(0.5 * visible).astype(int))
    assert res["counters"]["macs_pv"] == res["values_kept"].sum() * 16


def test_generate_equals_summarize_in_float_without_pruning():
    q, k, v = _qkv(n_layers=3)
    summ = spatten_model(q, k, v, DENSE, exact=True)
    gen = spatten_model(q, k, v, DENSE, mode="generate", prompt_len=40, exact=True)
    for a, b in zip(summ["outputs"], gen["outputs"], strict=True):
        assert np.allclose(a, b, atol=1e-6)
    assert gen["counters"]["calls"] == 3 * 9
    fx = spatten_model(q, k, v, CFG, mode="generate", prompt_len=40)
    assert fx["counters"]["dram_bytes_dense"] > 8 * summ["counters"]["dram_bytes_dense"] / 3


def test_generate_state_grows_and_keeps_pruned():
    q, k, v = _qkv(n_layers=4, length=30)
    att = SpattenAttention(CFG, 4, 4, "generate")
    prev = np.zeros(0, dtype=bool)
    for t in (20, 21, 22):
        for layer in range(4):
            att(layer, q[layer][:, t - 1:t], k[layer][:, :t], v[layer][:, :t], causal=True)
            if layer == 0:
                assert att.last["token_alive"][-1]      # a new token starts alive
        alive = att.token_alive
        assert alive.size == t
        assert not np.any(alive[:prev.size] & ~prev)        # pruned stays pruned
        prev = alive
    assert att.counters["rows"] == 3 * 4 * 4
    att.reset()
    assert att.token_alive.size == 0 and att.counters["rows"] == 0


def test_spatten_wrong():
    q, k, v = _qkv(n_layers=1)
    att = SpattenAttention(CFG, 2, 4)
    with pytest.raises(ValueError, match="q, k, v must have n_heads=4 heads"):
        att(0, q[0][:3], k[0][:3], v[0][:3])
    with pytest.raises(ValueError, match="k and v must have one shape"):
        att(0, q[0], k[0], v[0][:, :10])
    with pytest.raises(ValueError, match="layer must be in 0..1, not 2"):
        att(2, q[0], k[0], v[0])
    att(1, q[0], k[0], v[0])
    with pytest.raises(ValueError, match="layer must increase within a sequence"):
        att(0, q[0], k[0], v[0])
    with pytest.raises(ValueError, match="keys \\(100\\) must be at most cfg.max_context \\(64\\)"):
        SpattenAttention(preset("tiny"), 1, 1)(0, np.zeros((1, 1, 8)), np.zeros((1, 100, 8)),
                                               np.zeros((1, 100, 8)))
    with pytest.raises(ValueError, match="mode must be 'summarize' or 'generate'"):
        SpattenAttention(CFG, 1, 1, "decode")
    with pytest.raises(TypeError, match="cfg must have the attributes of SpattenConfig"):
        SpattenAttention(object(), 1, 1)
    gen = SpattenAttention(CFG, 2, 4, "generate")
    gen(0, q[0][:, :1], k[0][:, :5], v[0][:, :5])
    with pytest.raises(ValueError, match="layer must be 1 next in generate mode, not 0"):
        gen(0, q[0][:, :1], k[0][:, :5], v[0][:, :5])
    with pytest.raises(ValueError, match="q_layers, k_layers, v_layers must be equally long"):
        spatten_model(q, k, [], CFG)
    with pytest.raises(ValueError, match="q rows \\(48\\) must be at most the keys \\(5\\)"):
        SpattenAttention(CFG, 1, 4)(0, q[0], k[0][:, :5], v[0][:, :5])


def test_attend_head_is_the_stage_composition():
    from golden.pv import pv
    from golden.qk import qk_dot, qk_scores
    from golden.quant import msb_only
    from golden.softmax import softmax_fx

    rng = np.random.default_rng(SEED)
    q, k, v = (rng.integers(-2047, 2048, (n, 16)) for n in (5, 9, 9))
    vis = np.tril(np.ones((5, 9), dtype=bool), k=4)
    res = attend_head(q, k, v, 40000, 30, vis, DENSE, progressive=False)
    p = softmax_fx(qk_scores(qk_dot(q, k, 12), 40000, 30), vis)
    assert np.array_equal(res["prob"], p) and np.array_equal(res["out_code"], pv(p, v, 12))
    cfg = dataclasses.replace(DENSE, requant_threshold=0.0)
    msb = attend_head(q, k, v, 40000, 30, vis, cfg)
    p8 = softmax_fx(qk_scores(qk_dot(q, msb_only(k >> 4, 4), 12), 40000, 30), vis)
    assert np.array_equal(msb["out_code"], pv(p8, msb_only(v >> 4, 4), 12))
    with pytest.raises(ValueError, match="visible must have shape \\(Lq, Lk\\) = \\(5, 9\\)"):
        attend_head(q, k, v, 40000, 30, vis[:, :3], DENSE)
