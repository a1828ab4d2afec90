"""Render ``build/reports/*.json`` into README.md between section markers.

A section is delimited by ``<!-- BEGIN report:NAME -->`` and
``<!-- END report:NAME -->``. What goes between them depends on NAME:

- ``presets``: the presets of :mod:`gen.config` (no report needed);
- ``regmap``, ``command_format``: the register map and the command record
  (``gen.regmap``, no report needed);
- ``synth``: one table of every ``synth_<block>_<config>.json``;
  ``synth_<block>``: the same for one block (rendered here);
- ``topk_cycles``: ``gen.bench.render(report)`` of ``topk_cycles.json``;
- ``fetcher_bandwidth``: ``gen.bench_fetcher.render(report)`` of ``fetcher_bandwidth.json``;
- ``topk_rows``: ``gen.bench_topk_rows.render(report)`` of ``topk_rows.json``;
- ``fuzz``, ``soak``: ``gen.fuzz.render`` / ``gen.soak.render`` of ``fuzz.json`` / ``soak.json``;
- ``golden_*``: ``gen.golden_report.render(report)`` of ``golden_*.json``;
- ``eval_*``: ``gen.eval.render(report)`` of ``eval_*.json``.

A missing report or renderer leaves the section as it is and prints a note.
Plots (``build/reports/*.png``) are copied to ``docs/figures/`` beside the
README, which links them, so that the rendered README shows them.
Renders depend on the reports only (no dates, sorted rows), so re-rendering
the same reports gives the same README.
"""

import importlib
import json
import re
import shutil
from pathlib import Path

from .config import PRESETS

__all__ = ["render_readme", "render_text", "replace_section", "section_names", "render_synth",
           "render_presets", "publish_figures", "RENDERERS"]

# NAME prefix -> module whose render(report: dict) -> str renders it.
RENDERERS = {"topk_cycles": "gen.bench", "topk_rows": "gen.bench_topk_rows", "golden_": "gen.golden_report",
             "eval_": "gen.eval", "softmax_bench": "gen.bench_softmax", "arrays_bench": "gen.bench_arrays",
             "fetcher_bandwidth": "gen.bench_fetcher", "core_model": "gen.bench_core",
             "core_rtl": "gen.bench_core_rtl",
             "ceilings": "gen.ceilings", "sweep": "gen.sweep", "fuzz": "gen.fuzz", "soak": "gen.soak"}

_MARKER = re.compile(r"<!-- BEGIN report:([A-Za-z0-9_]+) -->")


def _begin(name):
    return f"<!-- BEGIN report:{name} -->"


def _end(name):
    return f"<!-- END report:{name} -->"


def section_names(text):
    """Names of the sections marked in ``text``, in order."""
    return _MARKER.findall(text)


def replace_section(text, name, body):
    """``text`` with the content of section ``name`` replaced by ``body``.

    Raises ``ValueError`` when the section's markers are missing or out of order.
    """
    begin, end = text.find(_begin(name)), text.find(_end(name))
    if begin < 0 or end < begin:
        raise ValueError(f"section {name!r} needs {_begin(name)} followed by {_end(name)}")
    start = begin + len(_begin(name))
    return text[:start] + "\n" + body.strip("\n") + "\n" + text[end:]


def _config_order(name):
    order = list(PRESETS)
    return (order.index(name), "") if name in order else (len(order), name)


def _cell(value, digits=None):
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if digits is not None else str(value)


def render_presets():
    """A Markdown table of the presets of :mod:`gen.config`."""
    lines = ["| preset | D | max context | Q x K / prob x V multipliers | softmax lanes (FIFO depth) "
             "| top-k P, score bits | value bits (MSB+LSB) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, c in PRESETS.items():
        lines.append(f"| {name} | {c.head_dim} | {c.max_context} | {c.qk_multipliers} / {c.pv_multipliers} "
                     f"| {c.softmax_lanes} ({c.softmax_fifo_depth}) "
                     f"| {c.topk_parallelism}, {c.topk_score_bits} "
                     f"| {c.value_bits} ({c.msb_bits}+{c.lsb_bits}) |")
    return "\n".join(lines)


_PRIMITIVE = {"fabric": "fabric", "ebr": "block RAM", "dsp": "multiplier"}


def render_synth(reports):
    """A Markdown table of synth reports (dicts from :mod:`gen.synth`)."""
    rows = sorted(reports, key=lambda r: (r["block"], _config_order(r["config"])))
    lines = [
        "| block | config | LUT4 | CCU2C | FF | DSP | EBR | LUT RAM | Fmax (MHz) | ceiling (MHz) "
        "| target met | Fmax / measured ceiling | endpoints over the ceiling "
        "| TRELLIS_COMB placed | iCE40 LUT4 | iCE40 FF | iCE40 EBR | iCE40 DSP | Yosys generic cells |",
        "| --- | --- " + "| ---: " * 17 + "|",
    ]
    for r in rows:
        ice = r.get("ice40", {})
        timing = r.get("timing")
        over = f"{timing['endpoints_over_target']} / {timing['endpoints']}" if timing else "–"
        ceiling = (f"{r['fmax_ceiling_mhz']} ({_PRIMITIVE[r['fmax_ceiling_primitive']]})"
                   if r.get("fmax_ceiling_mhz") else "–")
        met = {True: "yes", False: "no"}.get(r.get("fmax_target_met"), "–")
        lines.append(" | ".join([
            f"| {r['block']}", r["config"], _cell(r.get("lut4")), _cell(r.get("ccu2c")), _cell(r.get("ff")),
            _cell(r.get("dsp")), _cell(r.get("ebr")), _cell(r.get("lutram")), _cell(r.get("fmax_mhz"), 1),
            ceiling, met, _cell(r.get("fmax_ratio")), over, _cell(r.get("comb")), _cell(ice.get("sb_lut4")),
            _cell(ice.get("sb_dff")),
            _cell(ice.get("sb_ram40_4k")), _cell(ice.get("sb_mac16")), _cell(r.get("yosys_generic_cells")),
        ]) + " |")
    tools = sorted({f"{r['tools'].get('yosys', '').split(' (')[0]}, "
                    f"{r['tools'].get('nextpnr_ecp5', '').split('(Version ')[-1].rstrip(')')}"
                    for r in rows if r.get("tools")})
    devices = sorted({r["device"]["ecp5"] for r in rows if r.get("device")})
    targets = ", ".join(str(t) for t in sorted({r["pnr_target_mhz"] for r in rows
                                                if r.get("pnr_target_mhz")})) or "–"
    lines += ["", "Resources from Yosys on the block alone (ECP5: `synth_ecp5`; iCE40: `synth_ice40 -dsp`; "
              "generic: `synth`). Fmax and TRELLIS_COMB from nextpnr-ecp5 on "
              f"{', '.join(devices) or 'ECP5'} with the block inside the 4-pin harness of `gen/harness.py` "
              "(TRELLIS_COMB includes the harness's XOR-tree LUTs; target "
              f"{targets} MHz, timing allowed to fail, timing-driven placement weighted as in "
              "`gen/synth.py`; – where place and route was not run). "
              "Ceiling: the Fmax of the slowest primitive the block uses on ECP5 speed 6 with these tools "
              "(block RAM 136, multiplier 143, fabric 200 MHz; `gen/synth.py`); the target is 95% of it. "
              "Fmax / measured ceiling: against the reference designs of `gen/ceilings.py` placed and "
              "routed in the same run (table below; – where they were not run). "
              "Endpoints over the ceiling: flip-flop and memory inputs whose worst path misses the "
              "ceiling's period, out of all timed endpoints (block and harness), from nextpnr's routed "
              "delays (`gen/sta.py`; the slowest register groups are in each report's `timing`). "
              f"Tools: {'; '.join(tools) or '–'}."]
    return "\n".join(lines)


def _load(path):
    return json.loads(Path(path).read_text())


def _render_section(name, reports_dir):
    """The body of section ``name``, or ``None`` (with the reason) when it cannot be rendered."""
    reports_dir = Path(reports_dir)
    if name == "presets":
        return render_presets(), None
    if name in ("regmap", "command_format"):
        from . import regmap
        return (regmap.markdown_table(PRESETS["ulx3s"]) if name == "regmap" else regmap.command_table()), None
    if name == "synth" or name.startswith("synth_"):
        pattern = "synth_*.json" if name == "synth" else f"{name}_*.json"
        found = [_load(path) for path in sorted(reports_dir.glob(pattern))]
        if name != "synth":
            found = [r for r in found if r.get("block") == name[len("synth_"):]]
        if not found:
            return None, f"no {pattern} in {reports_dir}"
        return render_synth(found), None
    module_name = next((module for prefix, module in RENDERERS.items() if name.startswith(prefix)), None)
    if module_name is None:
        return None, "no renderer for this name"
    path = reports_dir / f"{name}.json"
    if not path.exists():
        return None, f"no report {path}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is None or not module_name.startswith(error.name):
            raise
        return None, f"{module_name} is not available"
    return module.render(_load(path)), None


def render_text(text, reports_dir, log=print):
    """``text`` with every renderable marked section re-rendered; returns (text, rendered names)."""
    done = []
    for name in section_names(text):
        body, reason = _render_section(name, reports_dir)
        if body is None:
            log(f"report: section {name} left as it is: {reason}")
            continue
        text = replace_section(text, name, body)
        done.append(name)
    return text, done


def publish_figures(reports_dir, dest, log=print):
    """Copy the plots of ``reports_dir`` into ``dest``; return the copied paths."""
    copied = []
    for png in sorted(Path(reports_dir).glob("*.png")):
        Path(dest).mkdir(parents=True, exist_ok=True)
        target = Path(dest) / png.name
        if not target.exists() or target.read_bytes() != png.read_bytes():
            shutil.copyfile(png, target)
            log(f"report: figure {target}")
        copied.append(target)
    return copied


def render_readme(readme, reports_dir, log=print):
    """Re-render the marked sections of ``readme`` in place; return the rendered names."""
    readme = Path(readme)
    if not readme.exists():
        log(f"report: no {readme}, nothing to render")
        return []
    publish_figures(reports_dir, readme.parent / "docs" / "figures", log)
    old = readme.read_text()
    new, done = render_text(old, reports_dir, log)
    if new != old:
        readme.write_text(new)
    for name in done:
        log(f"report: rendered section {name}")
    return done
