"""Q/K/V of real Transformers captured from their forward passes, for the core's end-to-end tests.

:class:`CaptureAttention` is an attention hook that records every call's
``(q, k, v, causal)`` and returns exact attention, so the model runs as the
float model does. :func:`capture_qkv` runs one text through MiniLM (encoder,
non-causal) or SmolLM2 (decoder, causal prefill) with it and keeps some layers,
heads and tokens. SmolLM2 has grouped-query attention (9 query heads, 3 KV
heads); its forward pass already repeats every KV head for its 3 query heads
(query head ``h`` reads KV head ``h // 3``) before calling the hook, so the
captured K and V of query head ``h`` are those of KV head ``h // 3`` and the
recorded ``kv_heads`` say which.

``python -m gen capture`` writes ``tests/data/qkv_<model>.npz`` (float16
arrays, the text, the token ids and the indices taken); :func:`load_qkv` reads
one back as the per-layer lists :func:`golden.spatten.spatten_model` takes.
"""

import operator
from pathlib import Path

import numpy as np

from .common import check_attention_args, exact_attention

__all__ = ["CaptureAttention", "MODELS", "capture_qkv", "load_model", "load_qkv", "qkv_path", "save_qkv",
           "spread"]

#: The models :func:`capture_qkv` knows, and whether their attention is causal.
MODELS = {"minilm": False, "smollm2": True}
DATA = Path(__file__).resolve().parents[2] / "tests" / "data"


class CaptureAttention:
    """Attention hook that records the operands of every call and returns exact attention.

    Members
    -------
    calls : list of ``(layer, q, k, v, causal)``
        In call order; ``q``, ``k``, ``v`` are copies of what the model passed
        (``(H, Lq, D)``, ``(H, Lk, D)``, ``(H, Lk, D)``).
    """

    def __init__(self):
        self.calls = []

    def __call__(self, layer, q, k, v, causal=False):
        check_attention_args(q, k, v)
        self.calls.append((operator.index(layer), np.array(q), np.array(k), np.array(v), bool(causal)))
        return exact_attention(q, k, v, causal)

    def reset(self):
        """Forget the calls recorded so far."""
        self.calls = []


def spread(n, count):
    """``count`` distinct indices of ``0..n-1`` spread evenly, first and last included."""
    n, count = operator.index(n), operator.index(count)
    if not 1 <= count <= n:
        raise ValueError(f"count must be in 1..{n}, not {count}")
    if count == 1:
        return (0,)
    # Round half up: the middle of 0..5 is 3 (as n // 2), not numpy's banker's 2.
    return tuple(int(np.floor(i * (n - 1) / (count - 1) + 0.5)) for i in range(count))


def _indices(name, values, n):
    try:
        out = tuple(operator.index(x) for x in values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of integers, not {values!r}") from None
    if not out or len(set(out)) != len(out) or not all(0 <= x < n for x in out):
        raise ValueError(f"{name} must be distinct integers in 0..{n - 1}, not {list(out)}")
    return out


def load_model(model_name):
    """The numpy model of ``model_name`` (one of :data:`MODELS`), loaded from its package."""
    from . import MiniLM, SmolLM2

    if model_name not in MODELS:
        raise ValueError(f"model_name must be one of {', '.join(MODELS)}, not {model_name!r}")

    return MiniLM() if model_name == "minilm" else SmolLM2()


def _token_ids(model_name, model, text, tokens):
    ids = model.tokenize(text)
    if ids.shape[0] < tokens:
        raise ValueError(f"text must have at least tokens={tokens} tokens for {model_name}, "
                         f"not {ids.shape[0]}")
    if model_name == "minilm":
        # The encoder sees a whole sentence: [CLS] ... [SEP], as its tokenizer truncates.
        return np.concatenate([ids[:tokens - 1], ids[-1:]])
    return ids[:tokens]


def capture_qkv(model_name, text, *, layers, heads, tokens, model=None):
    """Q, K, V of the given layers and heads of one forward pass of ``text``.

    Parameters
    ----------
    model_name : ``"minilm"`` or ``"smollm2"``
    text : str
        Tokenized by the model; its first ``tokens`` tokens are run (MiniLM:
        ``[CLS]``, the first ``tokens - 2`` word pieces, ``[SEP]``).
    layers, heads : sequences of int
        Distinct layer and (query) head indices of the model, kept in this order.
    tokens : int
        Sequence length, at least 2.
    model : MiniLM or SmolLM2, optional
        The loaded model (loaded here when omitted).

    Returns
    -------
    dict
        ``q``, ``k``, ``v``: float32 ``(layers, heads, tokens, head_dim)``;
        ``causal`` (bool), ``model``, ``text``, ``ids`` (int64 ``(tokens,)``),
        ``layers``, ``heads``, ``kv_heads`` (int64: the KV head each query head
        reads; equal to ``heads`` without grouped-query attention),
        ``n_layers``, ``n_heads`` of the model.
    """
    if model_name not in MODELS:
        raise ValueError(f"model_name must be one of {', '.join(MODELS)}, not {model_name!r}")
    tokens = operator.index(tokens)
    if tokens < 2:
        raise ValueError(f"tokens must be >= 2, not {tokens}")
    model = load_model(model_name) if model is None else model
    layers = _indices("layers", layers, model.n_layers)
    heads = _indices("heads", heads, model.n_heads)
    ids = _token_ids(model_name, model, text, tokens)
    hook = CaptureAttention()
    if MODELS[model_name]:
        model.forward(ids, hook, logits="last")
    else:
        model.hidden_states(ids, hook)
    calls = {call[0]: call for call in hook.calls}
    if sorted(calls) != list(range(model.n_layers)) or len(hook.calls) != model.n_layers:
        raise RuntimeError(f"{model_name} called the hook for layers {[c[0] for c in hook.calls]}, "
                           f"not once per layer 0..{model.n_layers - 1}")
    if any(c[4] != MODELS[model_name] for c in hook.calls):
        raise RuntimeError(f"{model_name} attention must be causal={MODELS[model_name]}")
    q, k, v = (np.stack([calls[i][j][list(heads)] for i in layers]).astype(np.float32) for j in (1, 2, 3))
    group = model.n_heads // getattr(model, "n_kv_heads", model.n_heads)
    return {"q": q, "k": k, "v": v, "causal": MODELS[model_name], "model": model_name, "text": text,
            "ids": ids.astype(np.int64), "layers": np.array(layers, dtype=np.int64),
            "heads": np.array(heads, dtype=np.int64),
            "kv_heads": np.array([h // group for h in heads], dtype=np.int64),
            "n_layers": model.n_layers, "n_heads": model.n_heads}


def save_qkv(path, captured):
    """Write a :func:`capture_qkv` result to ``path`` (compressed npz, Q/K/V as float16)."""
    for name in ("q", "k", "v"):
        peak = float(np.abs(captured[name]).max())
        if not np.isfinite(peak) or peak >= np.finfo(np.float16).max:
            raise ValueError(f"{name} must fit float16, not peak {peak}")
    arrays = {name: captured[name].astype(np.float16) for name in ("q", "k", "v")}
    meta = {name: np.asarray(captured[name]) for name in captured if name not in arrays}
    np.savez_compressed(path, **arrays, **meta)


def qkv_path(name):
    """The file of ``load_qkv(name)``: ``tests/data/qkv_<name>.npz`` of the repository."""
    if name not in MODELS:
        raise ValueError(f"name must be one of {', '.join(MODELS)}, not {name!r}")
    return DATA / f"qkv_{name}.npz"


def load_qkv(name):
    """The captured Q/K/V of model ``name`` as ``(q_layers, k_layers, v_layers, causal)``.

    Each of the three is a list, per layer, of float64 ``(heads, tokens, head_dim)``
    arrays, as :func:`golden.spatten.spatten_model` takes them; ``causal`` is a bool.
    """
    with np.load(qkv_path(name)) as f:
        q, k, v = (f[x].astype(np.float64) for x in ("q", "k", "v"))
        causal = bool(f["causal"])
    return list(q), list(k), list(v), causal
