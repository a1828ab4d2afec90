"""Verilog emission: one file per registered block, plus the configuration.

For a configuration named ``NAME`` and an output folder ``OUT``:

- ``OUT/NAME/verilog/<block>.v``: the block as a Verilog module named
  ``<block>``, whose ports are the component's signature (stream members
  flattened as ``request__valid``, ``request__payload`` ...) plus ``clk`` and
  ``rst``. No source attributes, so the text depends on the design only.
- ``OUT/NAME/verilog/spatten_params.vh``: the configuration as ``define``
  macros (``SPATTEN_HEAD_DIM`` ...), for hand-written Verilog around the blocks.
- ``OUT/NAME/spatten_regs.h`` and ``spatten_regs.py``: the core's register map
  (``gen.regmap``) as a C header and a Python module.
- ``OUT/NAME/config.json``: the configuration fields, the derived widths
  (under ``"derived"``) and the emitted block names.
"""

import json
from dataclasses import fields
from pathlib import Path

from amaranth.back import verilog as amaranth_verilog

from .blocks import BLOCKS, build_block
from .config import SpattenConfig

__all__ = ["emit", "block_verilog", "config_dict", "params_header", "DERIVED"]

# Properties of SpattenConfig shared by several blocks, written next to the fields.
DERIVED = ("index_bits", "count_bits", "multipliers")


def config_dict(config):
    """The configuration fields and derived widths as a JSON-ready dict."""
    data = {f.name: getattr(config, f.name) for f in fields(SpattenConfig)}
    data["derived"] = {name: getattr(config, name) for name in DERIVED}
    return data


def params_header(config):
    """The configuration as a Verilog header of ``define`` macros."""
    lines = [f"// SpAtten configuration {config.name!r}, written by `python -m gen verilog`.",
             "`ifndef SPATTEN_PARAMS_VH", "`define SPATTEN_PARAMS_VH",
             f'`define SPATTEN_CONFIG_NAME "{config.name}"']
    values = {f.name: getattr(config, f.name) for f in fields(SpattenConfig) if f.name != "name"}
    values.update({name: getattr(config, name) for name in DERIVED})
    for name, value in values.items():
        lines.append(f"`define SPATTEN_{name.upper()} {value!r}")
    lines.append("`endif")
    return "\n".join(lines) + "\n"


def block_verilog(name, config):
    """Verilog text of block ``name`` built from ``config`` (module named ``name``)."""
    component = build_block(name, config)
    return amaranth_verilog.convert(component, name=name, emit_src=False)


def emit(config, out, blocks=None):
    """Write the Verilog of ``blocks`` (default: all) and the configuration files.

    Returns the written paths, configuration files first.
    """
    blocks = sorted(BLOCKS) if blocks is None else list(blocks)
    folder = Path(out) / config.name
    vdir = folder / "verilog"
    vdir.mkdir(parents=True, exist_ok=True)
    data = config_dict(config)
    data["blocks"] = blocks
    written = [folder / "config.json", vdir / "spatten_params.vh"]
    written[0].write_text(json.dumps(data, indent=2) + "\n")
    written[1].write_text(params_header(config))
    from .regmap import emit as emit_regmap
    written += emit_regmap(config, folder)
    for name in blocks:
        path = vdir / f"{name}.v"
        path.write_text(block_verilog(name, config))
        written.append(path)
    return written
