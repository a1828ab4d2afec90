"""The SpAtten core's datapath: :class:`HeadDatapath`, one head of one layer, and its stages."""

from .head import HeadDatapath

__all__ = ["HeadDatapath", "head_from_config"]


def head_from_config(cfg):
    """The head datapath of one :class:`gen.config.SpattenConfig`."""
    return HeadDatapath(config=cfg)
