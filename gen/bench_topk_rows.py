"""Top-k rows back to back, as local value pruning runs them: ``python -m gen.bench_topk_rows``.

For each preset (``ulx3s``, ``paper``), the preset's top-k (``hw.topk.topk_from_config``:
``topk_engines`` engines of P lanes) ranks rows of ``n = max_context`` random
scores back to back on Verilator, for k in {n/8, n/4, n/2}, no bubbles and no
backpressure. The steady-state cycles per row (:func:`golden.topk_cycles.row_cycles`)
are compared with the Q x K row time, ``n`` over the scores Q x K makes per
cycle (``qk_multipliers / head_dim``): ``row_time_ratio`` (target <= 1.0).
Beside them: the stream model's prediction (``golden.topk_cycles.stream_cycles``,
exact on every beat), the same stream on one engine (model), the SpAtten
release model and the one-pass bound ``ceil(n / P)`` per row.

Writes ``<out>/reports/topk_rows.json``; :func:`render` turns it into the README table.
"""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

__all__ = ["main", "render", "measure", "row_time", "preset_config", "PRESETS", "K_FRACTIONS", "SCORE_BITS"]

PRESETS = ("ulx3s", "paper")
K_FRACTIONS = (8, 4, 2)  # k = n / fraction
SCORE_BITS = 16


def row_time(config):
    """Cycles Q x K takes to make one row of ``max_context`` scores."""
    per_cycle = max(1, config.qk_multipliers // config.head_dim)
    return math.ceil(config.max_context / per_cycle)


def preset_config(name):
    """The :class:`gen.config.SpattenConfig` of preset ``name``."""
    from gen.config import preset

    return preset(name)


def _scores(seed, n, count):
    rng = np.random.default_rng(seed)
    return [[int(v) for v in rng.integers(0, 1 << SCORE_BITS, n)] for _ in range(count)]


def measure(config, requests, seed, out):
    """Timelines measured on Verilator, one point per k: list of dicts (``timeline`` per point)."""
    from sim import runner

    engine = {"n_max": config.max_context, "parallelism": config.topk_parallelism,
              "score_bits": config.topk_score_bits, "signed": False}
    engine_class = "hw.topk:TopKEngine"
    if config.topk_engines > 1:
        engine, engine_class = {"engines": config.topk_engines, **engine}, "hw.topk:TopKInterleave"
    from hw.topk import topk_from_config

    n = config.max_context
    points = [{"n": n, "k": n // fraction, "back_to_back": True,
               "scores": _scores([seed, n, fraction, config.topk_parallelism], n, requests)}
              for fraction in K_FRACTIONS]
    out = Path(out)
    name = f"bench-topk-rows-{config.name}"
    measured = out / "sim" / name / "measured.json"
    measured.parent.mkdir(parents=True, exist_ok=True)
    runner.run(topk_from_config(config), test_module="sim.topk", sim="verilator", name=name,
               testcase="measure", seed=seed, build_root=out / "sim",
               parameters={"engine": engine, "engine_class": engine_class,
                           "measure": {"points": points, "out": str(measured.resolve())}})
    return json.loads(measured.read_text())


def _row(point, config):
    from golden import topk_cycles

    n, k, p = point["n"], point["k"], config.topk_parallelism
    requests = [(scores, k) for scores in point["scores"]]
    model = topk_cycles.stream_cycles(requests, n_max=n, parallelism=p, engines=config.topk_engines)
    one = topk_cycles.stream_cycles(requests, n_max=n, parallelism=p, engines=1)
    release = [topk_cycles.release_cycles(s, k, parallelism=p) for s in point["scores"]]
    rows = topk_cycles.row_cycles(point["timeline"])
    qk = row_time(config)
    return {
        "preset": config.name, "n": n, "k": k, "parallelism": p, "engines": config.topk_engines,
        "requests": len(point["scores"]), "row_cycles": rows, "qk_row_cycles": qk,
        "row_time_ratio": rows / qk,
        "model_row_cycles": topk_cycles.row_cycles(model),
        "model_exact": point["timeline"] == model,
        "one_engine_row_cycles": topk_cycles.row_cycles(one),
        "one_engine_row_time_ratio": topk_cycles.row_cycles(one) / qk,
        "release_cycles_mean": float(np.mean(release)),
        "one_pass_cycles": math.ceil(n / p),
    }


def render(report):
    """A Markdown table of a ``topk_rows.json`` report."""
    lines = [f"Top-k rows of n = max_context back to back (local value pruning), measured on Verilator "
             f"({report['requests_per_point']} random rows of {report['score_bits']}-bit scores per point, "
             f"steady state: the first quarter left out, seed {report['seed']}); Q x K row = n over the "
             f"scores Q x K makes per cycle; model = golden/topk_cycles.py stream_cycles (exact: every "
             f"beat's cycle); one engine = the same rows on one engine (model); release = SpAtten release "
             f"model sum(ceil(n_i/P)+3) per row; one pass = ceil(n/P).",
             "",
             "| preset | engines x P | n | k | cycles / row | Q x K row | row_time_ratio | model exact "
             "| one engine: cycles / row (ratio) | release model | one pass |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | :---: | ---: | ---: | ---: |"]
    for r in sorted(report["points"], key=lambda r: (PRESETS.index(r["preset"]) if r["preset"] in PRESETS
                                                      else len(PRESETS), r["preset"], r["k"])):
        lines.append(f"| {r['preset']} | {r['engines']} x {r['parallelism']} | {r['n']} | {r['k']} "
                     f"| {r['row_cycles']:.1f} | {r['qk_row_cycles']} | {r['row_time_ratio']:.2f} "
                     f"| {'yes' if r['model_exact'] else 'no'} "
                     f"| {r['one_engine_row_cycles']:.1f} ({r['one_engine_row_time_ratio']:.2f}) "
                     f"| {r['release_cycles_mean']:.1f} | {r['one_pass_cycles']} |")
    return "\n".join(lines)


def _parser():
    parser = argparse.ArgumentParser(prog="python -m gen.bench_topk_rows",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="build", help="build folder (report in OUT/reports/topk_rows.json)")
    parser.add_argument("--requests", type=int, default=24, help="rows per (preset, k) point (4..1000)")
    parser.add_argument("--seed", type=int, default=2021, help="seed of the random scores")
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated preset names")
    return parser


def main(args=None):
    """Run the benchmark; ``args`` is an argv list (or None for ``sys.argv``)."""
    from gen.config import ConfigError, preset

    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if args is None else list(args))
    if not 4 <= args.requests <= 1000:
        parser.error(f"--requests must be in 4..1000, not {args.requests}")
    try:
        configs = [preset(name) for name in args.presets.split(",")]
    except ConfigError as error:
        parser.error(str(error))
    out = Path(args.out)
    rows = []
    for config in configs:
        rows += [_row(point, config) for point in measure(config, args.requests, args.seed, out)]
    report = {"block": "topk", "simulator": "verilator", "score_bits": SCORE_BITS, "seed": args.seed,
              "requests_per_point": args.requests, "points": rows,
              "row_time_ratio_max": max(r["row_time_ratio"] for r in rows),
              "model_exact": all(r["model_exact"] for r in rows)}
    from gen.bench import write_report

    write_report(out, "topk_rows", report, render)
    return 0


if __name__ == "__main__":
    sys.exit(main())
