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
- ``OUT/NAME/spatten_NAME.core``: a FuseSoC (CAPI2) core of those files, one
  target per block (``fusesoc run --target=<block>``), for other flows.
"""

import json
from dataclasses import fields
from pathlib import Path

from amaranth.back import verilog as amaranth_verilog

from .blocks import BLOCKS, build_block
from .config import SpattenConfig

__all__ = ["emit", "block_verilog", "config_dict", "params_header", "fusesoc_core", "DERIVED",
           "CORE_VERSION"]

#: Version in the FuseSoC core's VLNV name (the generator's).
CORE_VERSION = "0.1.0"

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


def fusesoc_core(config, blocks):
    """A FuseSoC CAPI2 core file of the emitted Verilog (paths relative to ``OUT/NAME``)."""
    lines = ["CAPI=2:", "", f"name: spatten-gen:spatten:{config.name}:{CORE_VERSION}",
             f'description: "SpAtten blocks of configuration {config.name}, emitted by spatten-gen"', "",
             "filesets:", "  rtl:", "    files:",
             "      - verilog/spatten_params.vh: {is_include_file: true}"]
    lines += [f"      - verilog/{name}.v" for name in blocks]
    lines += ["    file_type: verilogSource", "", "targets:", "  default: &default", "    filesets: [rtl]"]
    for name in blocks:
        lines += [f"  {name}:", "    <<: *default", f"    toplevel: {name}"]
    return "\n".join(lines) + "\n"


def block_verilog(name, config):
    """Verilog text of block ``name`` built from ``config`` (module named ``name``)."""
    component = build_block(name, config)
    return amaranth_verilog.convert(component, name=name, emit_src=False)


def emit(config, out, blocks=None):
    """Write the Verilog of ``blocks`` (default: all) and the configuration files.

    Returns the written paths, configuration files first. A block that refuses the
    configuration (``hw.core.core.UnsupportedConfig``) is left out, its message in
    ``config.json`` under ``refused``.
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
    from hw.core.core import UnsupportedConfig

    emitted, refused = [], {}
    for name in blocks:
        try:
            text = block_verilog(name, config)
        except UnsupportedConfig as error:
            # The block does not compute an option of this configuration: it says which, and the
            # other blocks are still emitted.
            refused[name] = str(error)
            continue
        path = vdir / f"{name}.v"
        path.write_text(text)
        written.append(path)
        emitted.append(name)
    if refused:
        data["refused"] = refused
        written[0].write_text(json.dumps(data, indent=2) + "\n")
    core = folder / f"spatten_{config.name}.core"
    core.write_text(fusesoc_core(config, emitted))
    written.append(core)
    return written
