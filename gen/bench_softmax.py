"""Softmax unit throughput benchmark: ``python -m gen bench softmax`` (or ``python -m gen.bench_softmax``).

Measures, with cocotb on Verilator, ``hw.softmax.softmax.Softmax`` at the
ulx3s (2 lanes, n_max 512) and paper (8 lanes, n_max 1024) shapes on rows of
realistic logits sent back to back with no bubbles and no backpressure:

- ``mixed``: random lengths 64..n_max; ``mixed_short``: random lengths 1..n_max;
- fixed lengths (1, 2, 16, 64, 256, n_max): cycles per row in steady state.

Elements per cycle = elements / cycles from the first score beat taken to the
last probability beat; ``lane_utilization`` = that over ``lanes``. The
latency of a lone row (first score in to first probability out) is measured on
the first row of each point and compared with ``Softmax.latency``.
Writes ``<out>/reports/softmax_bench.json``; :func:`render` turns it into the
README table.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

__all__ = ["main", "render", "measure", "summarise", "report_of", "SHAPES", "FIXED_LENGTHS"]

# (name, lanes, n_max, index_bits): the ulx3s and paper presets' softmax.
SHAPES = (("ulx3s", 2, 512, 9), ("paper", 8, 1024, 10))
FIXED_LENGTHS = (1, 2, 16, 64, 256)


def _points(n_max, rows, seed):
    rng = np.random.default_rng(seed)
    points = [("mixed", [int(n) for n in rng.integers(64, n_max + 1, rows)]),
              ("mixed_short", [int(n) for n in rng.integers(1, n_max + 1, rows)])]
    for n in sorted({*FIXED_LENGTHS, n_max}):
        if n <= n_max:
            points.append((f"fixed_{n}", [n] * max(32, min(rows, 64 * 1024 // n))))
    return points


def measure(shape, rows, seed, out):
    """Measured cycles of every point at ``shape`` (a row of :data:`SHAPES`): list of dicts."""
    from hw.softmax.softmax import Softmax
    from sim import runner

    name, lanes, n_max, index_bits = shape
    unit = {"lanes": lanes, "n_max": n_max, "index_bits": index_bits}
    results = []
    for point, lengths in _points(n_max, rows, seed):
        measured = (out / "bench" / f"softmax-{name}-{point}.json").resolve()
        measured.parent.mkdir(parents=True, exist_ok=True)
        dut = Softmax(**unit)
        runner.run(dut, test_module="sim.softmax", sim="verilator",
                   name=f"bench-softmax-{name}", testcase="measure", seed=seed, build_root=out / "sim",
                   parameters={"unit": unit, "measure": {"lengths": lengths, "out": str(measured)}})
        results.append(summarise(shape, point, lengths, json.loads(measured.read_text()),
                                 dut.latency))
    return results


def summarise(shape, point, lengths, data, latency):
    """One point's figures from the cycles ``measure`` recorded; ``latency`` is ``Softmax.latency``."""
    name, lanes, n_max, _ = shape
    elements = sum(lengths)
    cycles = data["last_out"][-1] - data["first_in"][0] + 1
    first_in = data["first_in"]
    span = first_in[-1] - first_in[0]
    per_row = span / (len(first_in) - 1) if len(first_in) > 1 else None
    return {
        "shape": name, "lanes": lanes, "n_max": n_max, "point": point, "rows": len(lengths),
        "elements": elements, "cycles": cycles, "elements_per_cycle": elements / cycles,
        "lane_utilization": elements / cycles / lanes,
        "cycles_per_row": per_row, "row_length_mean": elements / len(lengths),
        # Input side between the first beats of the first and the last row: no fill or drain.
        "steady_lane_utilization": (elements - lengths[-1]) / span / lanes if span else None,
        "latency_cycles": data["first_out"][0] - data["first_in"][0],
        "latency_model_cycles": latency(data["beats"][0]),
    }


def report_of(points, seed):
    """The ``softmax_bench.json`` report of measured points."""
    return {"block": "softmax", "simulator": "verilator", "seed": seed, "points": points,
            "lane_utilization_long_rows_min": min(p["lane_utilization"] for p in points
                                                  if p["point"] == "mixed")}


def render(report):
    """A Markdown table of a ``softmax_bench.json`` report."""
    lines = [f"Softmax unit, measured on Verilator (cocotb, seed {report['seed']}): rows of random logits "
             "back to back, no bubbles, no backpressure. Elements per cycle from the first score beat in "
             "to the last probability beat out (fill and drain included); in steady state, between the "
             "first beats of the first and the last row, elements taken per cycle over lanes and cycles "
             "per row; latency of the first row, first score in to first probability out, "
             "beside `Softmax.latency`.",
             "",
             "| preset shape | lanes | n_max | rows | lengths | elements / cycle | lane utilization "
             "| steady-state lane utilization | cycles / row | latency (cycles) | latency model |",
             "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["points"]:
        lengths = {"mixed": f"64..{r['n_max']}", "mixed_short": f"1..{r['n_max']}"}.get(
            r["point"], r["point"].removeprefix("fixed_"))
        per_row = f"{r['cycles_per_row']:.2f}" if r["cycles_per_row"] is not None else "–"
        steady = r.get("steady_lane_utilization")
        steady = f"{steady:.3f}" if steady is not None else "–"
        lines.append(f"| {r['shape']} | {r['lanes']} | {r['n_max']} | {r['rows']} | {lengths} "
                     f"| {r['elements_per_cycle']:.3f} | {r['lane_utilization']:.3f} | {steady} | {per_row} "
                     f"| {r['latency_cycles']} | {r['latency_model_cycles']} |")
    return "\n".join(lines)


def _parser():
    parser = argparse.ArgumentParser(prog="python -m gen bench softmax", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="build",
                        help="build folder (report in OUT/reports/softmax_bench.json)")
    parser.add_argument("--rows", type=int, default=1000, help="rows of each mixed-length point (10..100000)")
    parser.add_argument("--seed", type=int, default=2021, help="seed of the row lengths and scores")
    return parser


def main(args=None):
    """Run the benchmark; ``args`` is an argv list (or None for ``sys.argv``)."""
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if args is None else list(args))
    if not 10 <= args.rows <= 100000:
        parser.error(f"--rows must be in 10..100000, not {args.rows}")
    out = Path(args.out)
    points = []
    for shape in SHAPES:
        points += measure(shape, args.rows, args.seed, out)
    report = report_of(points, args.seed)
    from gen.bench import write_report

    write_report(out, "softmax_bench", report, render)
    return 0


if __name__ == "__main__":
    sys.exit(main())
