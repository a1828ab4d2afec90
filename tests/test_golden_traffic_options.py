"""Traffic options of issue 14 in the golden: folded scales, pruning protections, counted bytes."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from gen.config import preset
from golden.pruning import keep_count, keep_ratio
from golden.pv import fold_token_scale
from golden.quant import channel_scale, max_code, quantize, token_scale
from golden.spatten import OPTION_DEFAULTS, SpattenAttention, attend_head, spatten_model

SEED = 41
DENSE = dataclasses.replace(preset("paper"), token_keep_final=1.0, head_keep_final=1.0, value_keep=1.0,
                            requant_threshold=0.0)


def _qkv(n_layers=3, h=2, length=40, d=16, seed=SEED):
    rng = np.random.default_rng(seed)
    print("seed", seed)
    q = [rng.normal(size=(h, length, d)) * 2 for _ in range(n_layers)]
    k = [rng.normal(size=(h, length, d)) * 2 for _ in range(n_layers)]
    v = [rng.normal(size=(h, length, d)) for _ in range(n_layers)]
    return q, k, v


def _err(res, ref, reduce=np.max):
    return max(reduce(np.abs(a - b)) for a, b in zip(res["outputs"], ref["outputs"], strict=True))


def test_options_off_is_todays_golden():
    # A cfg without the new attributes (the API's duck typing) runs exactly as one with them off.
    q, k, v = _qkv()
    cfg = preset("paper")
    bare = SimpleNamespace(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
                              if f.name not in OPTION_DEFAULTS})
    a = spatten_model(q, k, v, cfg)
    b = spatten_model(q, k, v, bare)
    assert all(np.array_equal(x, y) for x, y in zip(a["outputs"], b["outputs"], strict=True))
    assert a["counters"] == b["counters"]
    assert a["counters"]["dram_bytes_k_scale"] == a["counters"]["dram_bytes_v_scale"] == 0


def test_channel_scale_and_token_scale():
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(2, 10, 4)) + np.array([0, 5, -3, 0.1])
    s, c = channel_scale(x, 8)
    assert s.shape == c.shape == (2, 1, 4) and not c.any()
    assert np.allclose(s * max_code(8), np.abs(x).max(axis=1, keepdims=True))
    s, c = channel_scale(x, 8, zero_point=True)
    codes = quantize(x - c, s, 8)
    assert codes.max() == max_code(8) and codes.min() == -max_code(8)       # the whole range used
    codes, unit = token_scale(x, 4)
    assert codes.shape == (2, 10) and codes.max() == 255 and codes.min() >= 1
    assert np.all(codes * unit * max_code(4) >= np.abs(x).max(axis=2) * (1 - 1e-9))   # rounded up
    with pytest.raises(ValueError, match="x must have shape"):
        channel_scale(x[0], 8)


def test_fold_token_scale_is_one_multiply_per_lane():
    rng = np.random.default_rng(SEED)
    prob = rng.integers(0, 1 << 15, size=(3, 7))
    codes = rng.integers(1, 256, size=7)
    out = fold_token_scale(prob, codes, 8)
    for i in range(3):
        for j in range(7):
            assert out[i, j] == (int(prob[i, j]) * int(codes[j]) + 128) >> 8
    assert out.max() < 1 << 15
    with pytest.raises(ValueError, match="codes must be in 1..255"):
        fold_token_scale(prob, np.zeros(7, dtype=int), 8)
    with pytest.raises(ValueError, match="codes must have shape"):
        fold_token_scale(prob, codes[:3], 8)


def test_attend_head_signature_unchanged():
    # The head datapath's contract: positional (q, k, v, m, sh, visible, cfg, progressive).
    rng = np.random.default_rng(SEED)
    q, k, v = (rng.integers(-2047, 2048, size=(5, 16)) for _ in range(3))
    visible = np.ones((5, 5), dtype=bool)
    a = attend_head(q, k, v, 20000, 30, visible, DENSE, True)
    b = attend_head(q, k, v, 20000, 30, visible, DENSE, progressive=True, v_token_scale=None)
    assert np.array_equal(a["out_code"], b["out_code"])


def _outlier_kv(seed=SEED):
    # Keys with a few large-offset channels and values whose rows differ 30x in magnitude: what real
    # models show, and what one scale per tensor quantizes badly.
    q, k, v = _qkv(seed=seed)
    offset = np.zeros(16)
    offset[[2, 9]] = [12.0, -9.0]
    k = [x + offset for x in k]
    gain = np.geomspace(0.1, 3.0, 40)[:, None]
    v = [x * gain for x in v]
    return q, k, v


@pytest.mark.parametrize("msb", [4, 6])
def test_scales_beat_one_scale_per_tensor(msb):
    q, k, v = _outlier_kv()
    exact = spatten_model(q, k, v, DENSE, exact=True, causal=True)
    base = dataclasses.replace(DENSE, msb_bits=msb, value_bits=msb + 4)
    def err(**options):
        return _err(spatten_model(q, k, v, dataclasses.replace(base, **options), causal=True), exact, np.mean)
    tensor = err()
    kch = err(k_scale="channel", k_zero_point=True)
    both = err(k_scale="channel", k_zero_point=True, v_scale="token")
    vch = err(k_scale="channel", k_zero_point=True, v_scale="channel", v_zero_point=True)
    print(msb, tensor, kch, both, vch)
    assert kch < 0.9 * tensor
    assert both < 0.5 * kch
    assert vch < kch


def test_k_centre_costs_nothing():
    # A per-channel constant added to every key changes q.k by a per-row constant: with the centre
    # removed, the scores move by nothing and the output is the same (up to rounding ties).
    q, k, v = _qkv()
    cfg = dataclasses.replace(DENSE, k_scale="channel", k_zero_point=True)
    a = spatten_model(q, k, v, cfg, causal=True)
    shift = np.linspace(-4, 4, 16)
    b = spatten_model(q, [x + shift for x in k], v, cfg, causal=True)
    assert _err(a, b) < 1e-6 + 0.02 * max(np.abs(o).max() for o in a["outputs"])
    same = np.mean([np.mean(x == y) for x, y in zip(a["outputs"], b["outputs"], strict=True)])
    assert same > 0.9


def test_scale_bytes_and_index_list_counted():
    q, k, v = _qkv()
    cfg = dataclasses.replace(DENSE, k_scale="channel", v_scale="token", token_keep_final=0.5)
    res = spatten_model(q, k, v, cfg, causal=True)
    c = res["counters"]
    assert c["dram_bytes_k_scale"] == 2 * 16 * c["heads_run"]       # 16-bit scale per channel, head, call
    assert c["dram_bytes_v_scale"] == c["values_fetched"]           # one byte per fetched V row
    pruned_layers = [layer for layer in range(3) if not res["token_alive"][layer].all()]
    assert pruned_layers
    assert c["dram_bytes_index"] == sum((int(res["token_alive"][layer].sum()) * 10 + 7) // 8
                                        for layer in pruned_layers)
    vch = spatten_model(q, k, v, dataclasses.replace(DENSE, v_scale="channel", v_zero_point=True),
                        causal=True)
    assert vch["counters"]["dram_bytes_v_scale"] == 2 * 2 * 16 * vch["counters"]["heads_run"]


def _prefill(cfg, q, k, v, causal=True):
    att = SpattenAttention(cfg, len(q), q[0].shape[0])
    alive = []
    for layer in range(len(q)):
        att(layer, q[layer], k[layer], v[layer], causal=causal)
        alive.append(att.token_alive)
    return att, alive


def test_sinks_and_recent_window_protected_in_causal_calls():
    q, k, v = _qkv(n_layers=4)
    cfg = dataclasses.replace(DENSE, token_keep_final=0.3, token_protect_sinks=3, token_protect_recent=5)
    _, alive = _prefill(cfg, q, k, v)
    for layer in range(4):
        assert alive[layer].sum() == keep_count(keep_ratio(layer, 4, 0.15, 0.3), 40)
        assert alive[layer][:3].all() and alive[layer][-5:].all()
    _, plain = _prefill(dataclasses.replace(cfg, token_protect_sinks=0, token_protect_recent=0), q, k, v)
    assert not plain[-1][-5:].all()
    # Not causal (an encoder): nothing is protected, the plain ranking decides.
    _, enc = _prefill(cfg, q, k, v, causal=False)
    _, enc_plain = _prefill(dataclasses.replace(cfg, token_protect_sinks=0, token_protect_recent=0), q, k, v,
                            causal=False)
    assert all(np.array_equal(a, b) for a, b in zip(enc, enc_plain, strict=True))


def test_normalised_importance_ranks_by_rows_that_saw_each_token():
    q, k, v = _qkv(n_layers=3)
    cfg = dataclasses.replace(DENSE, token_keep_final=0.5, token_importance_norm=True)
    att = SpattenAttention(cfg, 3, 2)
    att(0, q[0], k[0], v[0], causal=True)
    # Causal prefill of 40 rows, 2 heads: token j is seen by 2 * (40 - j) rows.
    assert np.array_equal(att.token_seen, 2 * (40 - np.arange(40)))
    score, seen = att.token_score, att.token_seen
    att(1, q[1], k[1], v[1], causal=True)
    key = (score << 16) // seen
    n = keep_count(keep_ratio(1, 3, 0.15, 0.5), 40)
    order = np.lexsort((np.arange(40), -key))[:n]         # largest first, ties: earliest
    assert set(np.flatnonzero(att.token_alive)) == set(order.tolist())
    # The normalised order is not the raw column sums' order (which ranks the newest tokens last).
    assert not np.array_equal(np.argsort(-key, kind="stable"), np.argsort(-score, kind="stable"))


def test_unseen_tokens_kept_in_generation():
    q, k, v = _qkv(n_layers=2, length=24)
    cfg = dataclasses.replace(DENSE, token_keep_final=0.5, token_prune_start=0.0, token_importance_norm=True)
    res = spatten_model(q, k, v, cfg, mode="generate", prompt_len=20)
    # Each generated token is new (seen by no row) when layer 0 prunes its step: it survives layer 0.
    assert res["token_alive"][0][-1]
    exact = spatten_model(q, k, v, cfg, mode="generate", prompt_len=20, exact=True)
    assert exact["token_alive"][0][-1]


def test_keep_min_prunes_short_inputs_less():
    q, k, v = _qkv(n_layers=3)
    cfg = dataclasses.replace(DENSE, token_keep_final=0.25, token_keep_min=30)
    _, alive = _prefill(cfg, q, k, v)
    assert [int(a.sum()) for a in alive] == [max(keep_count(keep_ratio(layer, 3, 0.15, 0.25), 40), 30)
                                             for layer in range(3)]
    _, short = _prefill(cfg, [x[:, :20] for x in q], [x[:, :20] for x in k], [x[:, :20] for x in v])
    assert all(a.all() for a in short)                                      # 20 < 30: nothing pruned


def test_prefill_unpruned_decoding_pruned():
    q, k, v = _qkv(n_layers=2, length=24)
    cfg = dataclasses.replace(DENSE, token_keep_final=0.5, token_prune_start=0.0, token_prune_prefill=False)
    att = SpattenAttention(cfg, 2, 2, "generate")
    for layer in range(2):
        att(layer, q[layer][:, :20], k[layer][:, :20], v[layer][:, :20], causal=True)
        assert att.last["token_alive"].all()                       # the prompt's prefill: dense
    att(0, q[0][:, 20:21], k[0][:, :21], v[0][:, :21], causal=True)
    att(1, q[1][:, 20:21], k[1][:, :21], v[1][:, :21], causal=True)
    assert att.last["token_alive"].sum() == keep_count(keep_ratio(1, 2, 0.0, 0.5), 21)   # decoding prunes
    on = SpattenAttention(dataclasses.replace(cfg, token_prune_prefill=True), 2, 2, "generate")
    on(0, q[0][:, :20], k[0][:, :20], v[0][:, :20], causal=True)
    on(1, q[1][:, :20], k[1][:, :20], v[1][:, :20], causal=True)
    assert on.last["token_alive"].sum() == keep_count(keep_ratio(1, 2, 0.0, 0.5), 20)
