"""The SpAtten top-k engine and what is built around it.

- :mod:`.engine`: :class:`TopKEngine`, one quick-select engine (one request at a time),
  joined from its stages: :mod:`.control`, :mod:`.input_writer`, :mod:`.pivot_sampler`,
  :mod:`.round_reader`, :mod:`.round_compare`, :mod:`.round_counts`, :mod:`.part_writer`
  (with :mod:`.rotate`), :mod:`.decision`, :mod:`.final_pass`, :mod:`.credited_output`,
  over :mod:`.lane_buffer` s sized by :mod:`.geometry` (docs/topk.md has the map).
- :mod:`.interleave`: :class:`TopKInterleave`, several engines behind one
  request/scores/result interface, round-robin, results in request order,
  from :mod:`.dispatch` (:class:`RequestDispatch`) and :mod:`.collect`
  (:class:`ResultCollect`).
"""

from .collect import ResultCollect
from .dispatch import RequestDispatch
from .engine import TopKEngine
from .interleave import TopKInterleave

__all__ = ["TopKEngine", "TopKInterleave", "RequestDispatch", "ResultCollect", "topk_from_config"]


def topk_from_config(cfg):
    """The local value pruning top-k of one :class:`gen.config.SpattenConfig`.

    One :class:`TopKEngine`, or ``cfg.topk_engines`` of them in a
    :class:`TopKInterleave`.
    """
    kwargs = {"n_max": cfg.max_context, "parallelism": cfg.topk_parallelism,
              "score_bits": cfg.topk_score_bits}
    if cfg.topk_engines == 1:
        return TopKEngine(**kwargs)
    return TopKInterleave(engines=cfg.topk_engines, **kwargs)
