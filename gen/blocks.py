"""Registry of the generator's blocks: name -> factory(config) -> Component.

Every block that `make verilog` emits and `make synth` measures is listed here,
built from one :class:`gen.config.SpattenConfig`.
"""

__all__ = ["BLOCKS", "build_block"]


def _topk(config):
    from hw.topk import topk_from_config

    return topk_from_config(config)


# Filled as blocks land: name -> callable(SpattenConfig) -> wiring.Component
BLOCKS = {"topk": _topk}


def build_block(name, config):
    try:
        factory = BLOCKS[name]
    except KeyError:
        raise ValueError(f"block must be one of {', '.join(sorted(BLOCKS))}, not {name!r}") from None
    return factory(config)
