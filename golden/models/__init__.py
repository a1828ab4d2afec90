"""Real Transformers in numpy with a swappable attention hook (issue 4).

:class:`MiniLM` (all-MiniLM-L6-v2 encoder) and :class:`SmolLM2`
(SmolLM2-135M-Instruct decoder) call ``hook(layer, q, k, v, causal=...)`` for
every layer's attention: :class:`ExactAttention` (float) by default, or a
:class:`golden.spatten.SpattenAttention` to run what the hardware computes.
Only numpy is imported here; the model readers (safetensors, tokenizers, gguf)
are imported when a model is loaded.
"""

from .common import ExactAttention, exact_attention
from .minilm import MiniLM
from .smollm2 import KVCache, SmolLM2

__all__ = ["ExactAttention", "KVCache", "MiniLM", "SmolLM2", "exact_attention"]
