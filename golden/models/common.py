"""Pieces shared by the numpy forward passes: norms, GELU, softmax, exact attention.

Everything stays float32: one float64 scalar in an expression silently promotes
a whole activation (and makes the pass about ten times slower), so constants are
``np.float32`` and every helper returns the dtype it was given.
"""

import numpy as np

__all__ = ["ExactAttention", "check_attention_args", "exact_attention", "gelu", "layer_norm",
           "rms_norm", "softmax"]

_F = np.float32

# Abramowitz & Stegun 7.1.26: |erf error| <= 1.5e-7 for x >= 0; numpy has no erf.
_ERF_P = _F(0.3275911)
_ERF_A = tuple(_F(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))
_INV_SQRT2 = _F(1 / np.sqrt(2.0))


def _erf(x):
    a = np.abs(x)
    t = _F(1) / (_F(1) + _ERF_P * a)
    a1, a2, a3, a4, a5 = _ERF_A
    poly = t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5))))
    y = _F(1) - poly * np.exp(-a * a)
    return np.copysign(y, x)


def gelu(x):
    """Exact (erf) GELU, x * Phi(x), to about 1e-7 absolute."""
    return _F(0.5) * x * (_F(1) + _erf(x * _INV_SQRT2))


def layer_norm(x, weight, bias, eps):
    """LayerNorm over the last axis (biased variance, as torch)."""
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + _F(eps)) * weight + bias


def rms_norm(x, weight, eps):
    """RMSNorm over the last axis (LLaMA)."""
    ms = (x * x).mean(axis=-1, keepdims=True)
    return x / np.sqrt(ms + _F(eps)) * weight


def softmax(x, axis=-1):
    """Numerically stable softmax; ``-inf`` entries get probability 0."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def check_attention_args(q, k, v):
    """Validate the hook's operands: q (H, Lq, D), k and v (H, Lk, D)."""
    if q.ndim != 3 or k.ndim != 3 or v.ndim != 3:
        raise ValueError(f"q, k, v must be (heads, tokens, head_dim), not {q.shape}, {k.shape}, {v.shape}")
    if k.shape != v.shape or q.shape[0] != k.shape[0] or q.shape[2] != k.shape[2]:
        raise ValueError(f"q {q.shape} does not match k {k.shape} / v {v.shape}")
    if q.shape[1] > k.shape[1]:
        raise ValueError(f"more query rows ({q.shape[1]}) than keys ({k.shape[1]})")


def exact_attention(q, k, v, causal):
    """Float scaled dot-product attention, (H, Lq, D) x (H, Lk, D) -> (H, Lq, D).

    With ``causal`` the ``Lq`` query rows are the last ``Lq`` positions of the
    ``Lk`` keys (a prefill when ``Lq == Lk``, a decoding step when ``Lq == 1``).
    """
    check_attention_args(q, k, v)
    scores = np.matmul(q, k.transpose(0, 2, 1)) * _F(1 / np.sqrt(q.shape[-1]))
    if causal:
        lq, lk = q.shape[1], k.shape[1]
        future = np.arange(lk)[None, :] > (np.arange(lq) + (lk - lq))[:, None]
        scores = np.where(future, _F(-np.inf), scores)
    return np.matmul(softmax(scores), v)


class ExactAttention:
    """The attention hook's default: exact float attention, no state, no pruning.

    A hook is called as ``hook(layer, q, k, v, causal=...)`` by the forward
    passes of :mod:`golden.models`; :class:`golden.spatten.SpattenAttention`
    has the same call and replaces it.
    """

    def __call__(self, layer, q, k, v, causal=False):
        return exact_attention(q, k, v, causal)

    def reset(self):
        """Nothing to forget (the SpAtten hook keeps scores across calls)."""
