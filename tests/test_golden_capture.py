"""Captured Q/K/V of MiniLM and SmolLM2 (tests/data/qkv_*.npz) and the capture hook, no model loaded.

The files were written by ``python -m gen capture`` from the numpy forward
passes of golden.models on one English sentence.
"""

import numpy as np
import pytest

from gen.capture import HEADS, LAYERS, TEXT, TOKENS
from gen.config import preset
from golden.models import exact_attention
from golden.models.capture import CaptureAttention, capture_qkv, load_qkv, qkv_path, spread
from golden.spatten import spatten_model

EXPECTED = {"minilm": dict(causal=False, d=32, n_layers=6, n_heads=12),
            "smollm2": dict(causal=True, d=64, n_layers=30, n_heads=9)}
# Relative error (Frobenius, per layer) of the ulx3s datapath against float attention: 1-4% measured.
REL_TOL = 0.1


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("name", list(EXPECTED))
def test_capture_file_contents(name):
    want = EXPECTED[name]
    q, k, v, causal = load_qkv(name)
    assert causal is want["causal"]
    assert len(q) == len(k) == len(v) == LAYERS
    for x in q + k + v:
        assert x.shape == (HEADS, TOKENS, want["d"]) and x.dtype == np.float64
        assert np.isfinite(x).all() and np.abs(x).max() > 0
    with np.load(qkv_path(name)) as f:
        assert str(f["text"]) == TEXT and str(f["model"]) == name
        assert f["layers"].tolist() == [0, want["n_layers"] // 2, want["n_layers"] - 1]
        assert f["heads"].tolist() == list(spread(want["n_heads"], HEADS))
        assert f["ids"].shape == (TOKENS,)
        assert int(f["n_layers"]) == want["n_layers"] and int(f["n_heads"]) == want["n_heads"]
        heads, kv_heads, ids = f["heads"].tolist(), f["kv_heads"].tolist(), f["ids"].tolist()
    assert qkv_path(name).stat().st_size < 200_000
    if name == "minilm":
        assert ids[0] == 101 and ids[-1] == 102             # [CLS] ... [SEP]
        assert kv_heads == heads                           # no grouped-query attention
    else:
        # GQA: query heads 3 and 5 read KV head 1, so their K and V are the same arrays.
        assert kv_heads == [0, 1, 1, 2]
        for layer in range(LAYERS):
            np.testing.assert_array_equal(k[layer][1], k[layer][2])
            np.testing.assert_array_equal(v[layer][1], v[layer][2])
            assert not np.array_equal(k[layer][0], k[layer][1])
            assert not np.array_equal(q[layer][1], q[layer][2])


@pytest.mark.parametrize("name", list(EXPECTED))
def test_spatten_model_on_captured_qkv_close_to_exact(name):
    q, k, v, causal = load_qkv(name)
    result = spatten_model(q, k, v, preset("ulx3s"), causal=causal)
    assert result["token_alive"].all() and result["head_alive"].all()
    for layer in range(LAYERS):
        exact = exact_attention(q[layer], k[layer], v[layer], causal)
        err = _rel(result["outputs"][layer], exact)
        print(f"{name} layer {layer}: relative error {err:.4f}")
        assert err < REL_TOL, (name, layer, err)
        # The flag matters: the other masking is far further (0.24-0.64 measured) from the model's attention.
        wrong_mask = _rel(exact_attention(q[layer], k[layer], v[layer], not causal), exact)
        assert wrong_mask > 2 * REL_TOL, (name, layer, wrong_mask)


def test_capture_attention_records_and_returns_exact():
    rng = np.random.default_rng(7)
    q, k, v = (rng.standard_normal((2, 5, 4)).astype(np.float32) for _ in range(3))
    hook = CaptureAttention()
    out = hook(1, q, k, v, causal=True)
    np.testing.assert_array_equal(out, exact_attention(q, k, v, True))
    q[0, 0, 0] = 99.0                       # the record is a copy, not a view of the model's buffer
    layer, q_rec, k_rec, v_rec, causal = hook.calls[0]
    assert (layer, causal) == (1, True) and q_rec[0, 0, 0] != 99.0
    np.testing.assert_array_equal(k_rec, k)
    hook.reset()
    assert hook.calls == []


class FakeDecoder:
    """A SmolLM2 stand-in with grouped-query attention: 4 layers, 6 query heads on 2 KV heads."""

    n_layers, n_heads, n_kv_heads, head_dim = 4, 6, 2, 3

    def tokenize(self, text):
        return np.arange(len(text.split()), dtype=np.int64) + 10

    def forward(self, ids, attention, logits="all"):
        n = len(ids)
        t = np.arange(n)[None, :, None]
        d = np.arange(self.head_dim)[None, None, :]
        h_q = np.arange(self.n_heads)[:, None, None]
        h_kv = np.arange(self.n_kv_heads)[:, None, None]
        for layer in range(self.n_layers):
            q = (1000 * layer + 100 * h_q + t + d / 10).astype(np.float32)
            kv = (1000 * layer + 100 * h_kv - t - d / 10).astype(np.float32)
            kv = np.repeat(kv, self.n_heads // self.n_kv_heads, axis=0)
            attention(layer, q, kv, -kv, causal=True)


def test_capture_qkv_selects_layers_heads_tokens():
    got = capture_qkv("smollm2", "a b c d e f g", layers=(3, 0), heads=(5, 1, 2), tokens=4,
                      model=FakeDecoder())
    assert got["q"].shape == (2, 3, 4, 3) and got["q"].dtype == np.float32
    assert got["causal"] is True and got["ids"].tolist() == [10, 11, 12, 13]
    assert got["layers"].tolist() == [3, 0] and got["heads"].tolist() == [5, 1, 2]
    assert got["kv_heads"].tolist() == [1, 0, 0]
    assert got["q"][0, 0, 2, 1] == np.float32(3000 + 500 + 2 + 0.1)
    assert got["k"][1, 0, 3, 0] == np.float32(100 - 3)      # layer 0, query head 5 reads KV head 1
    np.testing.assert_array_equal(got["v"], -got["k"])


class FakeEncoder:
    """A MiniLM stand-in: [CLS] word pieces [SEP], one non-causal call per layer."""

    n_layers, n_heads, head_dim = 2, 3, 2

    def tokenize(self, text):
        return np.array([101, *range(1000, 1000 + len(text.split())), 102], dtype=np.int64)

    def hidden_states(self, ids, attention):
        for layer in range(self.n_layers):
            x = np.full((self.n_heads, len(ids), self.head_dim), layer, dtype=np.float32)
            x += np.asarray(ids, dtype=np.float32)[None, :, None]
            attention(layer, x, x + 1, x + 2, causal=False)


def test_capture_qkv_encoder_keeps_cls_and_sep():
    got = capture_qkv("minilm", "a b c d e f g", layers=(1,), heads=(0, 2), tokens=5, model=FakeEncoder())
    assert got["causal"] is False and got["ids"].tolist() == [101, 1000, 1001, 1002, 102]
    assert got["kv_heads"].tolist() == [0, 2]
    # The model ran on the truncated sequence, which ends with the sentence's [SEP].
    assert got["q"][0, 0, :, 0].tolist() == [102, 1001, 1002, 1003, 103]
    np.testing.assert_array_equal(got["k"], got["q"] + 1)


def test_spread():
    assert spread(6, 3) == (0, 3, 5)
    assert spread(30, 3) == (0, 15, 29)
    assert spread(12, 4) == (0, 4, 7, 11)
    assert spread(9, 4) == (0, 3, 5, 8)
    assert spread(5, 1) == (0,)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(model_name="gpt2"), ValueError, "model_name must be one of minilm, smollm2, not 'gpt2'"),
    (dict(tokens=1), ValueError, "tokens must be >= 2, not 1"),
    (dict(tokens=9), ValueError, "text must have at least tokens=9 tokens for smollm2, not 7"),
    (dict(layers=(0, 4)), ValueError, r"layers must be distinct integers in 0..3, not \[0, 4\]"),
    (dict(heads=(1, 1)), ValueError, r"heads must be distinct integers in 0..5, not \[1, 1\]"),
    (dict(heads=()), ValueError, r"heads must be distinct integers in 0..5, not \[\]"),
    (dict(layers=(0.5,)), TypeError, "layers must be a sequence of integers"),
])
def test_capture_qkv_wrong(kwargs, error, message):
    args = dict(model_name="smollm2", text="a b c d e f g", layers=(0,), heads=(0,), tokens=4,
                model=FakeDecoder()) | kwargs
    with pytest.raises(error, match=message):
        capture_qkv(**args)


def test_spread_and_load_wrong():
    with pytest.raises(ValueError, match="count must be in 1..3, not 4"):
        spread(3, 4)
    with pytest.raises(ValueError, match="name must be one of minilm, smollm2, not 'bert'"):
        load_qkv("bert")
