"""Benchmark of the RTL core (``hw.core.core.SpattenCore``) against its cycle model ``golden.core_cycles``.

Random sequences of a few layers and heads (summarised and generated,
causal or not, token and head pruning from layer 0, value keep 0.5, re-fetch
on: ``sim.core_e2e.run_config``) and, with ``--workload``, heads of GPT-2
small shapes from ``../shared/workloads`` cut to the preset's context, run
on Verilator through the host driver (``sim/core_cycles.py``) with a fixed
memory latency per burst and no stalls. Every command's ``CYCLES_BUSY`` is
compared with :func:`golden.core_cycles.command_cycles`; the report gives
per shape the measured and predicted cycles, the predicted cycles per stage,
and ``model_error``, the largest relative deviation over all commands.
"""

import argparse
import json
import sys
from pathlib import Path

__all__ = ["shapes", "measure", "compare", "render", "main"]


def shapes(config, *, quick=False):
    """The benchmark's shapes at ``config`` (dicts for ``sim.core_cycles``)."""
    n = min(64, config.max_context)
    d = config.head_dim
    out = [
        {"label": f"summarise, causal, 2 layers x 2 heads x {n}", "mode": "summarize", "causal": True,
         "layers": 2, "heads": 2, "length": n, "d": d, "seed": 11},
        {"label": f"summarise, not causal, 3 layers x 1 head x {n // 2}, d = {max(1, d // 2)}",
         "mode": "summarize", "causal": False, "layers": 3, "heads": 1, "length": n // 2, "d": max(1, d // 2),
         "seed": 12, "sharp": 3.0},
        {"label": f"generate, 2 layers x 3 heads, prompt {n - 4} + 4", "mode": "generate", "causal": True,
         "layers": 2, "heads": 3, "length": n, "d": d, "prompt_len": n - 4, "seed": 13},
        {"label": f"summarise, causal, 1 layer x 3 heads x {3 * n // 4}, peaked", "mode": "summarize",
         "causal": True, "layers": 1, "heads": 3, "length": 3 * n // 4, "d": d, "seed": 14, "sharp": 3.0},
    ]
    return out[:1] if quick else out


def workload_shapes(config, trace, *, count=3):
    """Shapes from heads of a SpAtten-release trace (CSV): ``count`` of its distinct token keeps
    (keys fetched over the sentence, to 0.1), first to last, each with its value keep (values
    over keys fetched) and re-fetch threshold, at the preset's context (at most 64 tokens), one
    layer of two heads, causal (GPT-2)."""
    import csv

    distinct = {}
    with open(trace, newline="") as f:
        for r in csv.DictReader(f):
            try:
                length, keys, values = (int(float(r[k])) for k in ("sentence_length_L", "key_fetch_num",
                                                                     "value_fetch_num"))
            except ValueError:      # a truncated last line
                continue
            distinct.setdefault(round(keys / length, 1), (r, length, keys, values))
    picked = list(distinct.values())
    count = min(count, len(picked))
    picked = [picked[round(i * (len(picked) - 1) / max(1, count - 1))] for i in range(count)]
    n = min(64, config.max_context)
    out = []
    for i, (r, length, keys, values) in enumerate(picked):
        token_keep = round(min(1.0, keys / length), 3)
        value_keep = round(min(1.0, max(values, 1) / max(keys, 1)), 3)
        out.append({"label": f"GPT-2 step {r['iteration_id']} layer {r['layer_id']} head {r['head_id']} "
                             f"({n} of {length} tokens, token keep {token_keep}, value keep {value_keep})",
                    "mode": "summarize", "causal": True, "layers": 1, "heads": 2, "length": n,
                    "d": config.head_dim, "seed": 100 + i,
                    "config": {"token_keep_final": token_keep, "value_keep": value_keep,
                               "requant_threshold": float(r["auto_requant_thres"])}})
    return out


def _measured_path(config, out):
    from sim.core_cycles import MEASURED_FILE

    return Path(out) / "sim" / f"bench_core_rtl_{config.name}" / MEASURED_FILE


def measure(config, shape_list, *, seed, out, latency):
    """Run ``shape_list`` on Verilator; the measured commands (dicts of ``sim.core_cycles``)."""
    from hw.core.core import SpattenCore
    from sim import runner
    from sim.core_cycles import MEASURED_FILE

    result = runner.run(SpattenCore(config), test_module="sim.core_cycles", sim="verilator",
                        name=f"bench_core_rtl_{config.name}", seed=seed, testcase="measure",
                        parameters={"preset": config.name, "shapes": shape_list, "latency": latency},
                        build_root=Path(out) / "sim")
    lines = (result["build_dir"] / MEASURED_FILE).read_text().splitlines()
    return [json.loads(line) for line in lines]


def compare(config, measured, latency):
    """Per shape: measured and predicted cycles, the predicted stages, the largest deviation."""
    from golden.core_cycles import STAGES, command_cycles

    shapes_out = {}
    for line in measured:
        model = command_cycles(config, line["trace"], latency=latency)
        error = (model["total"] - line["cycles"]) / line["cycles"]
        shape = shapes_out.setdefault(line["label"], {"shape": line["label"], "commands": [],
                                                      "stages": dict.fromkeys(STAGES, 0)})
        shape["commands"].append({"step": line["step"], "layer": line["layer"], "measured": line["cycles"],
                                  "predicted": model["total"], "error": round(error, 4)})
        for stage in STAGES:
            shape["stages"][stage] += model[stage]
    points = []
    for shape in shapes_out.values():
        cmds = shape["commands"]
        shape.update(measured=sum(c["measured"] for c in cmds), predicted=sum(c["predicted"] for c in cmds),
                     max_error=max((abs(c["error"]) for c in cmds), default=0.0))
        shape["error"] = round((shape["predicted"] - shape["measured"]) / shape["measured"], 4)
        points.append(shape)
    return points


def render(report):
    from golden.core_cycles import STAGES

    lines = [f"Whole core at `{report['preset']}` on Verilator (memory latency {report['latency_cycles']} "
             f"cycles per burst, no stalls, seed {report['seed']}): `CYCLES_BUSY` of every layer command "
             f"against `golden.core_cycles`; `model_error` (largest relative deviation over "
             f"{report['commands']} commands) = {report['model_error']}. Stages: share of the predicted "
             f"cycles.", "",
             "| shape | commands | measured cycles | predicted | error | worst command | "
             + " | ".join(STAGES) + " |",
             "| --- | ---: | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in STAGES) + " |"]
    for p in report["points"]:
        total = p["predicted"] or 1
        shares = " | ".join(f"{p['stages'][s] / total:.3f}" for s in STAGES)
        lines.append(f"| {p['shape']} | {len(p['commands'])} | {p['measured']} | {p['predicted']} | "
                     f"{p['error']:+.4f} | {p['max_error']:.4f} | {shares} |")
    return "\n".join(lines)


def _parser():
    parser = argparse.ArgumentParser(prog="python -m gen bench core_rtl",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="build", help="build folder (report in OUT/reports/core_rtl.json)")
    parser.add_argument("--preset", default="ulx3s", help="configuration preset")
    parser.add_argument("--latency", type=int, default=20, help="memory latency per burst, cycles (1..500)")
    parser.add_argument("--seed", type=int, default=2021, help="seed of the simulation")
    parser.add_argument("--quick", action="store_true", help="one shape only (a fast check)")
    parser.add_argument("--reuse", action="store_true",
                        help="no simulation: compare the model with the last run's measurements "
                             "(OUT/sim/bench_core_rtl_<preset>/)")
    parser.add_argument("--workload", default=None,
                        help="a SpAtten-release trace (CSV; 'gpt2': gen.bench_core.TRACE): add shapes of "
                             "three of its heads")
    return parser


def main(args=None):
    """Run the benchmark; ``args`` is an argv list (or None for ``sys.argv``)."""
    from gen.config import ConfigError, preset

    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if args is None else list(args))
    if not 1 <= args.latency <= 500:
        parser.error(f"--latency must be in 1..500, not {args.latency}")
    try:
        config = preset(args.preset)
    except ConfigError as error:
        parser.error(str(error))
    shape_list = shapes(config, quick=args.quick)
    if args.workload:
        from gen.bench_core import TRACE

        trace = TRACE if args.workload == "gpt2" else Path(args.workload)
        shape_list += workload_shapes(config, trace, count=1 if args.quick else 3)
    out = Path(args.out)
    if args.reuse:
        path = _measured_path(config, out)
        if not path.exists():
            parser.error(f"--reuse: no measurements at {path}")
        measured = [json.loads(line) for line in path.read_text().splitlines()]
        ran = {line.get("latency", args.latency) for line in measured}
        if ran != {args.latency}:
            parser.error(f"--reuse: the last run's latency was {sorted(ran)}, not --latency {args.latency}")
    else:
        measured = measure(config, shape_list, seed=args.seed, out=out, latency=args.latency)
    points = compare(config, measured, args.latency)
    report = {"block": "core_rtl", "simulator": "verilator", "preset": config.name, "seed": args.seed,
              "latency_cycles": args.latency, "points": points,
              "commands": sum(len(p["commands"]) for p in points),
              "model_error": max(p["max_error"] for p in points)}
    from gen.bench import write_report

    write_report(out, "core_rtl", report, render)
    return 0


if __name__ == "__main__":
    sys.exit(main())
