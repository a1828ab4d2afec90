"""Top-k engine cycle benchmark: ``python -m gen bench`` (or ``python -m gen.bench``).

Measures, with cocotb on Verilator, the cycles per request of ``hw.topk.TopKEngine``
(first score beat accepted to last result beat, no bubbles, no backpressure) on
random scores, for n in {64, 256, 1024}, k in {n/8, n/4, n/2} and P in {4, 8, 16},
side by side with, on the same inputs, the select cycles of the exact model of
``golden/topk_cycles.py``, the SpAtten release's model (sum over quick-select
rounds of ``ceil(n_i / P) + 3``) and the one-pass bound ``ceil(n / P)``.

Writes ``<out>/reports/topk_cycles.json``; :func:`render` turns it into the
README table.
"""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

__all__ = ["main", "render", "measure", "write_report", "SIZES", "PARALLELISMS", "K_FRACTIONS"]

SIZES = (64, 256, 1024)
PARALLELISMS = (4, 8, 16)
K_FRACTIONS = (8, 4, 2)  # k = n / fraction
SCORE_BITS = 16
N_MAX = 1024


def _scores(seed, n, count):
    rng = np.random.default_rng(seed)
    return [[int(v) for v in rng.integers(0, 1 << SCORE_BITS, n)] for _ in range(count)]


def measure(parallelism, requests, seed, out):
    """Cycles measured on Verilator for every (n, k) point at ``parallelism``: list of dicts."""
    from hw.topk import TopKEngine
    from sim import runner

    engine = {"n_max": N_MAX, "parallelism": parallelism, "score_bits": SCORE_BITS, "signed": False}
    points = []
    for n in SIZES:
        for fraction in K_FRACTIONS:
            points.append({"n": n, "k": n // fraction,
                           "scores": _scores([seed, parallelism, n, fraction], n, requests)})
    out = Path(out)
    measured = out / "sim" / f"bench-topk-p{parallelism}" / "measured.json"
    measured.parent.mkdir(parents=True, exist_ok=True)
    runner.run(TopKEngine(**engine), test_module="sim.topk", sim="verilator",
               name=f"bench-topk-p{parallelism}", testcase="measure", seed=seed, build_root=out / "sim",
               parameters={"engine": engine,
                           "measure": {"points": points, "out": str(measured.resolve())}})
    return json.loads(measured.read_text())


def _row(point, parallelism):
    from golden import topk_cycles

    n, k, cycles = point["n"], point["k"], point["cycles"]
    model = [topk_cycles.request_cycles(s, k, n_max=N_MAX, parallelism=parallelism) for s in point["scores"]]
    select = [topk_cycles.select_cycles(s, k, n_max=N_MAX, parallelism=parallelism) for s in point["scores"]]
    release = [topk_cycles.release_cycles(s, k, parallelism=parallelism) for s in point["scores"]]
    cycles_mean = float(np.mean(cycles))
    release_mean = float(np.mean(release))
    return {
        "n": n, "k": k, "parallelism": parallelism, "requests": len(cycles),
        "cycles_mean": cycles_mean, "cycles_min": int(min(cycles)), "cycles_max": int(max(cycles)),
        "model_cycles_mean": float(np.mean(model)),
        "model_exact": [int(c) for c in cycles] == [int(c) for c in model],
        "select_cycles_mean": float(np.mean(select)),
        "release_cycles_mean": release_mean,
        "one_pass_cycles": math.ceil(n / parallelism),
        "ratio_vs_release_x": cycles_mean / release_mean,
        "select_ratio_vs_release_x": float(np.mean(select)) / release_mean,
        "ratio_vs_one_pass_x": cycles_mean / math.ceil(n / parallelism),
    }


def render(report):
    """A Markdown table of a ``topk_cycles.json`` report."""
    lines = [f"Top-k engine, cycles per request measured on Verilator ({report['requests_per_point']} "
             f"random requests of {report['score_bits']}-bit scores per point, n_max={report['n_max']}, "
             f"seed {report['seed']}); select = the quick-select part (golden/topk_cycles.py, exact), "
             f"release = SpAtten release model sum(ceil(n_i/P)+3), one pass = ceil(n/P).",
             "",
             "| P | n | k | cycles (mean) | select (mean) | release model (mean) | one pass "
             "| cycles / release | select / release | cycles / one pass | model exact |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |"]
    for r in sorted(report["points"], key=lambda r: (r["parallelism"], r["n"], r["k"])):
        lines.append(f"| {r['parallelism']} | {r['n']} | {r['k']} | {r['cycles_mean']:.1f} "
                     f"| {r['select_cycles_mean']:.1f} | {r['release_cycles_mean']:.1f} "
                     f"| {r['one_pass_cycles']} | {r['ratio_vs_release_x']:.2f} "
                     f"| {r['select_ratio_vs_release_x']:.2f} | {r['ratio_vs_one_pass_x']:.2f} "
                     f"| {'yes' if r['model_exact'] else 'no'} |")
    return "\n".join(lines)


def write_report(out, name, report, render_report):
    """Write ``<out>/reports/<name>.json`` and print its table (``render_report(report)``) and path."""
    path = Path(out) / "reports" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(render_report(report))
    print(path)
    return path


def _parser():
    parser = argparse.ArgumentParser(prog="python -m gen bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="build",
                        help="build folder (report in OUT/reports/topk_cycles.json)")
    parser.add_argument("--requests", type=int, default=64,
                        help="random requests per (n, k, P) point (1..1000)")
    parser.add_argument("--seed", type=int, default=2021, help="seed of the random scores")
    parser.add_argument("--parallelism", default=",".join(map(str, PARALLELISMS)),
                        help="comma-separated P values (powers of two in 2..64)")
    return parser


def main(args=None):
    """Run the benchmark; ``args`` is an argv list (or None for ``sys.argv``) or a parsed namespace."""
    parser = _parser()
    if not isinstance(args, argparse.Namespace):
        args = parser.parse_args(sys.argv[1:] if args is None else list(args))
    if not 1 <= args.requests <= 1000:
        parser.error(f"--requests must be in 1..1000, not {args.requests}")
    try:
        parallelisms = [int(p) for p in str(args.parallelism).split(",")]
    except ValueError:
        parser.error(f"--parallelism must be comma-separated integers, not {args.parallelism!r}")
    for p in parallelisms:
        if p not in (2, 4, 8, 16, 32, 64):
            parser.error(f"--parallelism values must be powers of two in 2..64, not {p}")
    from golden import topk_cycles

    out = Path(args.out)
    rows = []
    for p in parallelisms:
        rows += [_row(point, p) for point in measure(p, args.requests, args.seed, out)]
    report = {"block": "topk", "simulator": "verilator", "n_max": N_MAX, "score_bits": SCORE_BITS,
              "seed": args.seed, "requests_per_point": args.requests, "points": rows,
              # The engine's pipeline depths (golden.topk_timing, shared with the hardware).
              "round_latency_cycles": {str(p): topk_cycles.round_latency(N_MAX, p) for p in parallelisms},
              "round_gap_cycles": {str(p): topk_cycles.round_gap(p) for p in parallelisms},
              "final_latency_cycles": {str(p): topk_cycles.final_latency(N_MAX, p) for p in parallelisms},
              "model_exact": all(r["model_exact"] for r in rows)}
    write_report(out, "topk_cycles", report, render)
    # Rows back to back at the presets, against the Q x K row time (gen.bench_topk_rows).
    from . import bench_topk_rows
    return bench_topk_rows.main(["--out", str(out), "--seed", str(args.seed)])


if __name__ == "__main__":
    sys.exit(main())
