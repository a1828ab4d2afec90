"""The SpAtten top-k engine and what is built around it.

- :mod:`.engine`: :class:`TopKEngine`, one quick-select engine (one request at a time).
- :mod:`.interleave`: :class:`TopKInterleave`, several engines behind one
  request/scores/result interface, round-robin, results in request order.
"""

from .engine import TopKEngine, topk_from_config

__all__ = ["TopKEngine", "topk_from_config"]
