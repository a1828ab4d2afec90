"""Systolic arrays benchmark: ``python -m gen bench arrays`` (or ``python -m gen.bench_arrays``).

Measures, with cocotb on Verilator, the Q x K and prob x V units of the
``ulx3s`` and ``paper`` presets (``max_context`` raised to 1024 where it is
smaller: only the index fields grow) on whole heads of 1024 keys (V rows) at
D = 64: one head alone, and a layer's heads back to back. Utilization is the
units' own counters, ``busy_mac_count / (active_cycle_count * multipliers)``,
and the span from the first input beat to the last output beat is checked
against ``requests * beats + latency``. Then the cycles per head of the
shapes of ``../shared/workloads`` (keys and values fetched per head; a
summarisation head has ``L`` query rows, a generation head one) follow from
``golden.array_cycles`` with the units' latencies (the Q x K bank turnaround
included), which the measured spans check.

Writes ``<out>/reports/arrays_bench.json``; :func:`render` turns it into the
README table.
"""

import argparse
import csv
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

__all__ = ["main", "render", "measure", "summarize", "build_report", "workload_cycles",
            "PRESETS", "HEAD_KEYS", "HEAD_DIM"]

PRESETS = ("ulx3s", "paper")
HEAD_KEYS = 1024
HEAD_DIM = 64
LAYER_HEADS = 12
# The project's shared/ folder, beside the repository.
WORKLOADS = Path(__file__).resolve().parents[2] / "shared" / "workloads"


def _config(preset_name):
    from gen.config import preset

    cfg = preset(preset_name)
    return replace(cfg, max_context=max(cfg.max_context, HEAD_KEYS))


def _unit_params(cfg, kind):
    return {"head_dim": cfg.head_dim, "max_context": cfg.max_context, "value_bits": cfg.value_bits,
            "multipliers": cfg.qk_multipliers if kind == "qk" else cfg.pv_multipliers}


def measure(preset_name, kind, out, seed):
    """Counters and spans of the measured groups of one unit at one preset: list of dicts."""
    from hw.systolic.pv import PvUnit
    from hw.systolic.qk import QkUnit
    from sim import runner

    cfg = _config(preset_name)
    params = _unit_params(cfg, kind)
    groups = [{"label": "one head alone", "d": HEAD_DIM, "n": HEAD_KEYS, "requests": 1},
              {"label": f"{LAYER_HEADS} heads back to back", "d": HEAD_DIM, "n": HEAD_KEYS,
               "requests": LAYER_HEADS}]
    name = f"bench-arrays-{kind}-{preset_name}"
    measured = Path(out) / "sim" / name / "measured.json"
    measured.parent.mkdir(parents=True, exist_ok=True)
    unit = (QkUnit if kind == "qk" else PvUnit)(**params)
    runner.run(unit, test_module=f"sim.{kind}", sim="verilator", name=name, testcase="measure", seed=seed,
               build_root=Path(out) / "sim",
               parameters={"unit": params, "measure": {"groups": groups, "out": str(measured.resolve())}})
    return summarize(preset_name, kind, json.loads(measured.read_text()))


def summarize(preset_name, kind, groups):
    """Rows of the report from the measured groups of one unit at one preset."""
    from golden.array_cycles import stream_cycles
    from hw.systolic.pv import PvUnit
    from hw.systolic.qk import QkUnit

    unit = (QkUnit if kind == "qk" else PvUnit)(**_unit_params(_config(preset_name), kind))
    unit._MustUse__silence = True   # built for its properties only
    rows = []
    per_beat = unit.lanes if kind == "qk" else unit.rows
    for group in groups:
        first, last = group["first_in_cycle"], group["last_out_cycle"]
        turnaround = unit.bank_turnaround if kind == "qk" else None
        model = stream_cycles([math.ceil(group["n"] / per_beat)] * group["requests"], latency=unit.latency,
                              turnaround=turnaround)
        span = last - first + 1
        rows.append({
            "unit": kind, "preset": preset_name, "label": group["label"], "requests": group["requests"],
            "n": group["n"], "d": group["d"], "multipliers": unit.multipliers, "per_cycle": per_beat,
            "latency_cycles": unit.latency, "busy_macs": group["busy_macs"],
            "active_cycles": group["active_cycles"], "span_cycles": span,
            "model_span_cycles": model, "model_exact": span == model,
            "utilization": group["busy_macs"] / (group["active_cycles"] * unit.multipliers),
        })
    return rows


def workload_cycles(path, lanes, rows_per_cycle, qk_latency, pv_latency, qk_turnaround):
    """Cycles per head of a workload trace, heads back to back: dict per phase (summarisation, generation).

    ``golden.array_cycles`` gives the cycles: one request per query row, the
    Q x K unit's bank turnaround included (the gaps it leaves are ``qk_gap_cycles``).
    """
    from golden.array_cycles import stream_cycles

    phases = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if not (row.get("iteration_id") or "").strip().isdigit():
                continue
            phase = "summarisation" if int(row["iteration_id"]) == 0 else "generation"
            queries = int(row["sentence_length_L"]) if phase == "summarisation" else 1
            keys, values = int(row["key_fetch_num"]), int(row["value_fetch_num"])
            p = phases.setdefault(phase, {"heads": 0, "qk": [], "pv": []})
            p["heads"] += 1
            p["qk"] += [math.ceil(keys / lanes)] * queries
            p["pv"] += [math.ceil(values / rows_per_cycle)] * queries
    out = {}
    for phase, p in phases.items():
        qk = stream_cycles(p["qk"], latency=qk_latency, turnaround=qk_turnaround)
        pv = stream_cycles(p["pv"], latency=pv_latency)
        out[phase] = {"heads": p["heads"], "qk_beats": sum(p["qk"]), "pv_beats": sum(p["pv"]),
                      "qk_cycles_per_head": qk / p["heads"], "pv_cycles_per_head": pv / p["heads"],
                      "qk_gap_cycles": qk - sum(p["qk"]) - qk_latency}
    return out


def render(report):
    """Markdown tables of an ``arrays_bench.json`` report."""
    lines = [f"Systolic arrays measured on Verilator (seed {report['seed']}): heads of {HEAD_KEYS} keys or V "
             f"rows at D = {HEAD_DIM}; utilization = busy multiplier-cycles / (active cycles x multipliers) "
             f"from the units' counters; span = first input beat to last output beat, "
             f"model = golden.array_cycles.",
             "",
             "| unit | preset | multipliers | per cycle | run | latency | span | model exact | utilization |",
             "| --- | --- | ---: | ---: | --- | ---: | ---: | :---: | ---: |"]
    for r in report["points"]:
        lines.append(f"| {r['unit']} | {r['preset']} | {r['multipliers']} | {r['per_cycle']} | {r['label']} "
                     f"| {r['latency_cycles']} | {r['span_cycles']} | {'yes' if r['model_exact'] else 'no'} "
                     f"| {r['utilization']:.4f} |")
    lines += ["", "Cycles per head of the workload traces (back to back; keys and values fetched per head):",
              "",
              "| workload | preset | phase | heads | Q x K cycles / head | prob x V cycles / head "
              "| Q x K gap cycles (bank turnaround) |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for w in report["workloads"]:
        for phase, p in sorted(w["phases"].items(), reverse=True):
            lines.append(f"| {w['workload']} | {w['preset']} | {phase} | {p['heads']} "
                         f"| {p['qk_cycles_per_head']:.1f} | {p['pv_cycles_per_head']:.1f} "
                         f"| {p['qk_gap_cycles']} |")
    return "\n".join(lines)


def build_report(points, presets, seed):
    """The report: measured ``points`` and the workload traces' cycles at ``presets``."""
    from hw.systolic.pv import pv_from_config
    from hw.systolic.qk import qk_from_config

    workloads = []
    for p in presets:
        cfg = _config(p)
        qk, pv = qk_from_config(cfg), pv_from_config(cfg)
        qk._MustUse__silence = pv._MustUse__silence = True   # built for their properties only
        for trace in sorted(WORKLOADS.glob("*.csv")):
            phases = workload_cycles(trace, qk.lanes, pv.rows, qk.latency, pv.latency, qk.bank_turnaround)
            workloads.append({"workload": trace.stem, "preset": p, "phases": phases})
    return {"block": "arrays", "simulator": "verilator", "seed": seed, "points": points,
            "workloads": workloads, "model_exact": all(r["model_exact"] for r in points)}


def _parser():
    parser = argparse.ArgumentParser(prog="python -m gen bench arrays", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="build",
                        help="build folder (report in OUT/reports/arrays_bench.json)")
    parser.add_argument("--seed", type=int, default=2021, help="seed of the random operands")
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated presets")
    return parser


def main(args=None):
    """Run the benchmark; ``args`` is an argv list (or None for ``sys.argv``) or a parsed namespace."""
    from gen.config import PRESETS as KNOWN

    parser = _parser()
    if not isinstance(args, argparse.Namespace):
        args = parser.parse_args(sys.argv[1:] if args is None else list(args))
    presets = [p.strip() for p in str(args.presets).split(",") if p.strip()]
    for p in presets:
        if p not in KNOWN:
            parser.error(f"--presets values must be among {', '.join(KNOWN)}, not {p!r}")
    out = Path(args.out)
    points = []
    for p in presets:
        for kind in ("qk", "pv"):
            points += measure(p, kind, out, args.seed)
    report = build_report(points, presets, args.seed)
    from gen.bench import write_report

    write_report(out, "arrays_bench", report, render)
    return 0


if __name__ == "__main__":
    sys.exit(main())
