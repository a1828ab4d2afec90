"""The numpy forward passes of golden.models against recorded PyTorch references.

tests/data/ref_*.npz were written once by gen/record_reference.py with
sentence-transformers (MiniLM) and transformers loading the same Q4_1 GGUF
(SmolLM2); they hold the texts, the reference token ids and the outputs.
"""

import math
from pathlib import Path

import numpy as np
import pytest

from gen.eval import limit_blas_threads
from golden.models import ExactAttention, MiniLM, SmolLM2, exact_attention
from golden.models.common import gelu, softmax

DATA = Path(__file__).parent / "data"
TOL = 1e-4


@pytest.fixture(scope="module")
def minilm():
    limit_blas_threads(1)          # small matrices on a shared machine: one thread is faster
    return MiniLM()


@pytest.fixture(scope="module")
def smollm2():
    limit_blas_threads(1)
    return SmolLM2()


def test_minilm_matches_sentence_transformers(minilm):
    ref = np.load(DATA / "ref_minilm.npz")
    texts = [str(t) for t in ref["texts"]]
    for text, ids in zip(texts, ref["ids"], strict=True):
        np.testing.assert_array_equal(minilm.tokenize(text), ids[ids >= 0], err_msg=text[:40])
    emb = minilm.embed(texts)
    err = np.abs(emb - ref["embeddings"]).max()
    print(f"MiniLM embeddings: max |numpy - sentence-transformers| = {err:.2e}")
    assert err < TOL
    assert emb.dtype == np.float32


def test_smollm2_matches_transformers(smollm2):
    ref = np.load(DATA / "ref_smollm2.npz")
    np.testing.assert_array_equal(smollm2.tokenize(str(ref["text"])), ref["ids"])
    logits = smollm2.forward(ref["ids"])
    err_sample = np.abs(logits[:, ref["vocab_sample"]] - ref["logits_sample"]).max()
    err_last = np.abs(logits[-1] - ref["logits_last"]).max()
    print(f"SmolLM2 logits: max |numpy - transformers| = {err_sample:.2e} (sampled), "
          f"{err_last:.2e} (last row)")
    assert err_sample < TOL and err_last < TOL
    np.testing.assert_array_equal(logits.argmax(axis=1), ref["argmax"])


def test_smollm2_kv_cache_decoding_equals_prefill(smollm2):
    ids = np.load(DATA / "ref_smollm2.npz")["ids"][:12]
    full = smollm2.forward(ids)
    cache = smollm2.new_cache()
    smollm2.forward(ids[:8], cache=cache)
    steps = [smollm2.forward(ids[i:i + 1], cache=cache, logits="last")[0] for i in range(8, 12)]
    assert len(cache) == 12
    assert np.abs(np.stack(steps) - full[8:]).max() < TOL


def test_hook_is_called_per_layer_with_contract_shapes(smollm2):
    calls = []

    def hook(layer, q, k, v, causal=False):
        calls.append((layer, q.shape, k.shape, v.shape, causal, q.dtype))
        return exact_attention(q, k, v, causal)

    smollm2.forward(np.array([504, 3575, 282]), attention=hook)
    assert [c[0] for c in calls] == list(range(30))
    assert calls[0][1:] == ((9, 3, 64), (9, 3, 64), (9, 3, 64), True, np.float32)


def test_exact_attention_causal_rows():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((2, 5, 4)).astype(np.float32) for _ in range(3))
    out = exact_attention(q, k, v, causal=True)
    # Row i sees keys 0..i only: equal to a non-causal attention on the prefix.
    for i in range(5):
        np.testing.assert_allclose(out[:, i], exact_attention(q[:, i:i + 1], k[:, :i + 1], v[:, :i + 1],
                                                              causal=False)[:, 0], atol=1e-6)
    last = exact_attention(q[:, -1:], k, v, causal=True)
    np.testing.assert_allclose(last[:, 0], out[:, -1], atol=1e-6)
    assert ExactAttention()(0, q, k, v, causal=True).dtype == np.float32


def test_gelu_and_softmax_accuracy():
    x = np.linspace(-8, 8, 4001, dtype=np.float32)
    exact = np.array([0.5 * t * (1 + math.erf(t / math.sqrt(2))) for t in x.astype(np.float64)])
    assert np.abs(gelu(x) - exact).max() < 1e-6
    assert gelu(x).dtype == np.float32
    p = softmax(np.array([[0.0, -np.inf, 1.0]], dtype=np.float32))
    assert p[0, 1] == 0 and abs(p.sum() - 1) < 1e-6


def test_attention_shapes_wrong():
    q = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="heads, tokens, head_dim"):
        exact_attention(q[0], q[0], q[0], False)
    with pytest.raises(ValueError, match="does not match"):
        exact_attention(q, np.zeros((2, 3, 8), np.float32), np.zeros((2, 3, 8), np.float32), False)
    with pytest.raises(ValueError, match="more query rows"):
        exact_attention(q, q[:, :2], q[:, :2], True)


def test_model_arguments_wrong(smollm2):
    with pytest.raises(ValueError, match="max_tokens must be in 2..512, not 1000"):
        MiniLM(max_tokens=1000)
    with pytest.raises(ValueError, match="logits must be 'all' or 'last', not 'first'"):
        smollm2.forward(np.array([1]), logits="first")
