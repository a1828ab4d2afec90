"""Core model benchmark: ``python -m gen bench core`` (or ``python -m gen.bench_core``).

Replays the real GPT-2 trace (``../shared/workloads/gpt2-small-wikitext2-per8.csv``:
a 993-token summarisation, then 31 generated tokens, 12 layers x 12 heads,
with SpAtten's cascade token pruning, local V pruning and progressive
quantization as recorded) through the analytical model of the core
(:mod:`golden.core_model`) on three machines:

- ``paper``: the paper preset's arrays (512 + 512 multipliers) and 16 HBM2
  channels, 512 GB/s at 1 GHz (512 bytes a cycle);
- ``spatten_1_8``: SpAtten1/8, 64 + 64 multipliers (the ``ulx3s`` arrays)
  with 64 GB/s at 1 GHz (64 bytes a cycle), the paper's 360 GOP/s point;
- ``ulx3s``: the ``ulx3s`` preset behind its own memory port
  (``axi_data_bits / 8`` bytes a cycle).

The trace's contexts (up to 1024 tokens) exceed the ``ulx3s`` preset's 512:
the model raises ``max_context`` to 1024 for the replay (only buffer depths
and index widths grow). The stage latencies are the blocks' own properties
(``hw.systolic``, ``hw.softmax``, ``golden.topk_cycles``); a summarisation
head re-computes ``--recompute-fraction`` of its rows when the trace says it
fetched LSBs (the trace records the flag per head; the paper measures about
6% of rows).

Reported per machine and per mode (summarisation, generation, both):
cycles, DRAM bytes per plane, MACs, ``ops_per_mult_cycle`` (dense-equivalent
operations, two per multiply-accumulate of the dense baseline, per
multiplier per cycle; SpAtten1/8 reaches about 2.8), ``roofline_ratio``
(cycles over the roofline bound max(compute, memory) per head) and each
stage's busy fraction. Writes ``<out>/reports/core_model.json``.

The core itself is not built yet (issue 19): the RTL replay and the
model's check against the RTL's counters (``model_error``) come with it.
"""

import argparse
import csv
import sys
from dataclasses import replace
from pathlib import Path

from .bench_arrays import WORKLOADS

__all__ = ["main", "measure", "render", "trace_calls", "machine_rates", "MACHINES", "TRACE"]

TRACE = WORKLOADS / "gpt2-small-wikitext2-per8.csv"
#: Machine -> (preset, DRAM bytes per cycle or None for the preset's AXI port).
MACHINES = {"paper": ("paper", 512.0), "spatten_1_8": ("ulx3s", 64.0), "ulx3s": ("ulx3s", None)}
TRACE_CONTEXT = 1024
#: Cycles from a fetch's address to its first data (DRAM latency), charged once per call.
MEMORY_LATENCY = 50


def machine_rates(machine):
    """:class:`golden.core_model.CoreRates` of a machine of :data:`MACHINES`."""
    from gen.config import preset
    from golden.core_model import CoreRates
    from golden.topk_cycles import final_latency
    from hw.softmax.softmax import softmax_from_config
    from hw.systolic.pv import pv_from_config
    from hw.systolic.qk import qk_from_config

    preset_name, bandwidth = MACHINES[machine]
    cfg = preset(preset_name)
    cfg = replace(cfg, max_context=max(cfg.max_context, TRACE_CONTEXT))
    qk, pv, softmax = qk_from_config(cfg), pv_from_config(cfg), softmax_from_config(cfg)
    for unit in (qk, pv, softmax):
        unit._MustUse__silence = True   # built for their properties only
    topk_fill = final_latency(cfg.max_context, cfg.topk_parallelism)
    fill = MEMORY_LATENCY + qk.latency + softmax.latency_constant + topk_fill + pv.latency
    return cfg, CoreRates(qk_lanes=qk.lanes, softmax_lanes=cfg.softmax_lanes, pv_rows=pv.rows,
                          topk_parallelism=cfg.topk_parallelism, topk_engines=cfg.topk_engines,
                          topk_n_max=cfg.max_context,
                          bytes_per_cycle=bandwidth or cfg.axi_data_bits / 8, fill=fill,
                          qk_multipliers=cfg.qk_multipliers, pv_multipliers=cfg.pv_multipliers)


def _int(row, key):
    return int(float(row[key]))


def trace_calls(path, cfg, recompute_fraction):
    """The trace as ``{"summarize": calls, "generate": calls}`` of :func:`golden.core_model.run_cycles`."""
    from golden.core_model import generation_work, summary_work

    groups = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if not (row.get("iteration_id") or "").isdigit():
                continue     # the trailing config line
            groups.setdefault((int(row["iteration_id"]), int(row["layer_id"])), []).append(row)
    calls = {"summarize": [], "generate": []}
    for (iteration, _layer), rows in sorted(groups.items()):
        heads = []
        for row in rows:
            quantized = _int(row, "quant_key_bit") > 0
            bits = {"d": _int(row, "embedding_length_D"),
                    "msb_bits": _int(row, "quant_key_bit") if quantized else cfg.value_bits,
                    "lsb_bits": _int(row, "auto_requant_incre") if quantized else 0,
                    "q_bits": cfg.value_bits}
            refetch = row["if_requant"] == "True" and quantized
            shape = {"length": _int(row, "sentence_length_L"), "keys": _int(row, "key_fetch_num"),
                     "values": _int(row, "value_fetch_num")}
            if iteration == 0:
                heads.append(summary_work(**shape, **bits, lsb_fetched=refetch,
                                          recompute_fraction=recompute_fraction))
            else:
                heads.append(generation_work(**shape, **bits, refetch=refetch))
        cascade = max(_int(r, "key_fetch_num") for r in rows) if any(r["if_topk"] == "True"
                                                                      for r in rows) else 0
        calls["summarize" if iteration == 0 else "generate"].append((heads, cascade))
    return calls


def _figures(total, rates):
    mults = rates.qk_multipliers + rates.pv_multipliers
    cycles = total["cycles"]
    return {"cycles": round(cycles), "calls": total["calls"],
            "dram_bytes": sum(total["dram_bytes"].values()),
            "dram_bytes_per_plane": total["dram_bytes"],
            "macs_qk": total["macs"]["qk"], "macs_pv": total["macs"]["pv"],
            "macs_dense": total["macs"]["dense"],
            "ops_per_mult_cycle": round(2 * total["macs"]["dense"] / (mults * cycles), 3),
            "roofline_ratio": round(cycles / total["bound"], 3),
            "busy_fraction": {stage: round(busy / cycles, 3) for stage, busy in total["busy"].items()}}


def measure(machine, trace=TRACE, recompute_fraction=0.06):
    """The report's entry of one machine."""
    from golden.core_model import run_cycles

    cfg, rates = machine_rates(machine)
    calls = trace_calls(trace, cfg, recompute_fraction)
    modes = {mode: run_cycles(mode_calls, rates) for mode, mode_calls in calls.items()}
    both = run_cycles(calls["summarize"] + calls["generate"], rates)
    return {"machine": machine, "preset": MACHINES[machine][0], "bytes_per_cycle": rates.bytes_per_cycle,
            "multipliers": rates.qk_multipliers + rates.pv_multipliers, "fill_cycles": rates.fill,
            "summarize": _figures(modes["summarize"], rates),
            "generate": _figures(modes["generate"], rates), "total": _figures(both, rates)}


def render(report):
    """The README table of a report."""
    lines = ["| machine | mode | cycles | DRAM MB | ops / mult / cycle | cycles / roofline | "
             "busiest stage |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for entry in report["machines"]:
        for mode in ("summarize", "generate", "total"):
            fig = entry[mode]
            stage, busy = max(fig["busy_fraction"].items(), key=lambda item: item[1])
            lines.append(f"| {entry['machine']} ({entry['multipliers']} mult, "
                         f"{entry['bytes_per_cycle']:g} B/cycle) | {mode} | {fig['cycles']:,} | "
                         f"{fig['dram_bytes'] / 1e6:.2f} | {fig['ops_per_mult_cycle']:.2f} | "
                         f"{fig['roofline_ratio']:.2f} | {stage} {busy:.2f} |")
    lines.append("")
    lines.append(f"Trace: `{report['trace']}`; re-computed rows of a summarisation head that "
                 f"fetched LSBs: {report['recompute_fraction']:g}. Model: `golden/core_model.py` "
                 "(an idealised pipelined core: the RTL, one query row at a time, has its own model, "
                 "`golden/core_cycles.py`, checked below).")
    return "\n".join(lines)


def _parser():
    parser = argparse.ArgumentParser(prog="python -m gen bench core", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="build", help="build folder (report in OUT/reports/core_model.json)")
    parser.add_argument("--trace", default=str(TRACE), help="workload trace (CSV of the SpAtten release)")
    parser.add_argument("--recompute-fraction", type=float, default=0.06,
                        help="rows a summarisation head that fetched LSBs re-computes (0..1)")
    parser.add_argument("--machines", default=",".join(MACHINES),
                        help=f"comma-separated machines of {', '.join(MACHINES)}")
    return parser


def main(argv=None):
    from gen.bench import write_report

    parser = _parser()
    args = parser.parse_args(argv)
    machines = [name.strip() for name in args.machines.split(",") if name.strip()]
    unknown = [name for name in machines if name not in MACHINES]
    if unknown or not machines:
        parser.error(f"--machines must name machines of {', '.join(MACHINES)}, not {args.machines!r}")
    if not 0.0 <= args.recompute_fraction <= 1.0:
        parser.error(f"--recompute-fraction must be in 0..1, not {args.recompute_fraction!r}")
    if not Path(args.trace).is_file():
        parser.error(f"--trace must be a readable file, not {args.trace!r}")
    report = {"trace": Path(args.trace).name, "recompute_fraction": args.recompute_fraction,
              "machines": [measure(name, args.trace, args.recompute_fraction) for name in machines]}
    write_report(args.out, "core_model", report, render)
    return 0


if __name__ == "__main__":
    sys.exit(main())
