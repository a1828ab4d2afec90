"""Benchmark of the head datapath (``hw.core.HeadDatapath``): cycles per job against the floor.

Each shape (summarisation causal or not, generation) runs alone on
Verilator, checked bit for bit by ``sim/core_head.py`` (its ``measure``
test), with a fixed memory latency per burst. The report gives cycles,
``golden.head.cycles_floor`` and their ratio (the sequential schedule's
overhead), where the cycles go (fetching, scoring, selecting, prob x V),
DRAM bytes and the multipliers' utilization (MACs over cycles x multipliers).
"""

import argparse
import json
import sys
from pathlib import Path

__all__ = ["SHAPES", "measure", "render", "main"]

SHAPES = [
    {"label": "generation, 512 keys", "lk": 512, "lq": 1, "causal": False, "density": 1.0, "keep": 1.0,
     "refetch": "none"},
    {"label": "generation, 512 keys, half kept, re-fetch", "lk": 512, "lq": 1, "causal": False,
     "density": 0.5, "keep": 0.5, "refetch": "all"},
    {"label": "summarisation, 64 rows x 256 keys", "lk": 256, "lq": 64, "causal": False, "density": 1.0,
     "keep": 1.0, "refetch": "none"},
    {"label": "summarisation, causal 128 x 128, half kept, re-fetch some", "lk": 128, "lq": 128,
     "causal": True, "density": 1.0, "keep": 0.5, "refetch": "some"},
]
PHASES = ("cycles_fetch", "cycles_score", "cycles_select", "cycles_pv")


def measure(config, seed, out, latency):
    """Run :data:`SHAPES` on Verilator; the counters of each job (dicts)."""
    from hw.core import HeadDatapath
    from sim import runner
    from sim.core_head import MEASURED_FILE

    result = runner.run(HeadDatapath(config=config), test_module="sim.core_head", sim="verilator",
                        name=f"bench_head_{config.name}", seed=seed, testcase="measure",
                        parameters={"preset": config.name, "jobs": 0, "measure": SHAPES,
                                    "latency": [latency, latency]},
                        build_root=Path(out) / "sim")
    lines = (result["build_dir"] / MEASURED_FILE).read_text().splitlines()
    return [json.loads(line) for line in lines]


def _row(job, config):
    mults = config.qk_multipliers + config.pv_multipliers
    row = {"shape": job["label"], "lk": job["lk"], "lq": job["lq"], "alive": job["alive"],
           "cycles": job["cycles"], "cycles_floor": job["cycles_floor"],
           "floor_ratio": round(job["cycles"] / job["cycles_floor"], 3),
           "dram_bytes": sum(job[k] for k in job if k.startswith("dram_bytes_")),
           "macs": job["macs_qk"] + job["macs_pv"], "rows_refetched": job["rows_refetched"],
           "mult_utilization": round((job["macs_qk"] + job["macs_pv"]) / (job["cycles"] * mults), 4)}
    row.update({f"{p}_fraction": round(job[p] / job["cycles"], 3) for p in PHASES})
    return row


def render(report):
    lines = [f"Head datapath at `{report['preset']}`, measured on Verilator (one job at a time, "
             f"memory latency {report['latency_cycles']} cycles per burst, seed {report['seed']}); "
             f"floor = `golden.head.cycles_floor`; fractions of the cycles fetching / scoring "
             f"(Q x K + softmax) / selecting (top-k) / prob x V.", "",
             "| shape | rows | keys | cycles | floor | ratio | fetch | score | select | pv | DRAM bytes | "
             "mult. utilization |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["points"]:
        lines.append(f"| {r['shape']} | {r['lq']} | {r['alive']} | {r['cycles']} | {r['cycles_floor']} | "
                     f"{r['floor_ratio']} | {r['cycles_fetch_fraction']} | {r['cycles_score_fraction']} | "
                     f"{r['cycles_select_fraction']} | {r['cycles_pv_fraction']} | {r['dram_bytes']} | "
                     f"{r['mult_utilization']} |")
    return "\n".join(lines)


def _parser():
    parser = argparse.ArgumentParser(prog="python -m gen bench head", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="build",
                        help="build folder (report in OUT/reports/head_cycles.json)")
    parser.add_argument("--preset", default="ulx3s", help="configuration preset")
    parser.add_argument("--latency", type=int, default=20, help="memory latency per burst, cycles (1..500)")
    parser.add_argument("--seed", type=int, default=2021, help="seed of the random data")
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
    out = Path(args.out)
    rows = [_row(job, config) for job in measure(config, args.seed, out, args.latency)]
    report = {"block": "head", "simulator": "verilator", "preset": config.name, "seed": args.seed,
              "latency_cycles": args.latency, "points": rows,
              "floor_ratio_max": max(r["floor_ratio"] for r in rows)}
    from gen.bench import write_report

    write_report(out, "head_cycles", report, render)
    return 0


if __name__ == "__main__":
    sys.exit(main())
