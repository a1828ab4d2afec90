"""Fetcher benchmark: ``python -m gen bench fetcher`` (``make bench``), or ``python -m gen.bench_fetcher``.

Measures, with cocotb on Verilator, the bytes per cycle the fetcher of a
preset (default ``ulx3s``) achieves against its port's peak (one bus word per
cycle): for index lists that are dense (every row) and 50% / 25% random, at
memory latencies of 10 and 50 cycles (every burst's data that long after its
AR handshake, bursts overlapping), MSB plane, no stalls, no backpressure,
several lists back to back. ``peak_fraction = row bytes / (cycles *
data_bytes)``, cycles from the first request beat taken to the last row out.

It also counts, from the SpAtten release's GPT-2 trace in
``../shared/workloads``, the bytes fetched with the trace's pruning and
bit settings against dense 16-bit K and V (``golden.quant.row_bytes`` per
row; ``workload_savings``).

Writes ``<out>/reports/fetcher_bandwidth.json``; :func:`render` turns it into the
README table.
"""

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

__all__ = ["main", "render", "measure", "workload_savings", "DENSITIES", "LATENCIES"]

DENSITIES = (1.0, 0.5, 0.25)
LATENCIES = (10, 50)
WORKLOAD_NAME = "gpt2-small-wikitext2-per8.csv"


def _workload():
    """The trace in ``shared/workloads`` beside the repository (or beside a folder above it)."""
    for folder in Path(__file__).resolve().parents[1:]:
        path = folder.parent / "shared" / "workloads" / WORKLOAD_NAME
        if path.is_file():
            return path
    return None


def _lists(seed, rows, density, count):
    rng = np.random.default_rng(seed)
    if density >= 1.0:
        return [list(range(rows))] * count
    picks = [rng.choice(rows, int(rows * density), replace=False) for _ in range(count)]
    return [sorted(int(i) for i in pick) for pick in picks]


def measure(config, lists_per_point, seed, out):
    """Cycles measured on Verilator per (density, latency) point: list of dicts."""
    from golden.fetch import refetch_threshold_code
    from hw.fetcher import Fetcher
    from sim import runner

    params = {"head_dim": config.head_dim, "msb_bits": config.msb_bits, "lsb_bits": config.lsb_bits,
              "max_context": config.max_context, "data_bits": config.axi_data_bits,
              "addr_bits": config.axi_addr_bits, "id_bits": config.axi_id_bits,
              "outstanding": config.axi_outstanding,
              "threshold_code": refetch_threshold_code(config.requant_threshold)}
    rows = config.max_context
    points = [{"density": d, "latency": lat, "lists": _lists([seed, int(d * 100)], rows, d, lists_per_point)}
              for d in DENSITIES for lat in LATENCIES]
    out = Path(out)
    name = f"bench-fetcher-{config.name}"
    measured = out / "sim" / name / "measured.json"
    measured.parent.mkdir(parents=True, exist_ok=True)
    runner.run(Fetcher(**params), test_module="sim.fetcher", sim="verilator", name=name, testcase="measure",
               seed=seed, build_root=out / "sim",
               parameters={"fetcher": params, "rows": rows,
                           "measure": {"points": points, "out": str(measured.resolve())}})
    data_bytes = config.axi_data_bits // 8
    result = []
    for point in json.loads(measured.read_text()):
        result.append({**point, "bytes_per_cycle": point["bytes"] / point["cycles"],
                       "peak_bytes_per_cycle": data_bytes,
                       "peak_fraction": point["bytes"] / (point["cycles"] * data_bytes)})
    return result


def workload_savings(path):
    """Bytes fetched with the trace's settings vs dense 16-bit K and V, over every (step, layer, head)."""
    from golden.quant import row_bytes

    fetched = {"k_msb": 0, "k_lsb": 0, "v_msb": 0, "v_lsb": 0}
    dense = 0
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if not row["iteration_id"].strip().isdigit():
                continue
            d, length = int(float(row["embedding_length_D"])), int(row["sentence_length_L"])
            kbits, vbits = int(row["quant_key_bit"]), int(row["quant_value_bit"])
            keys, values = int(row["key_fetch_num"]), int(row["value_fetch_num"])
            fetched["k_msb"] += keys * row_bytes(d, kbits if kbits > 0 else 16)
            fetched["v_msb"] += values * row_bytes(d, vbits if vbits > 0 else 16)
            if row["if_requant"] == "True" and int(row["auto_requant_incre"]) > 0:
                fetched["k_lsb"] += keys * row_bytes(d, int(row["auto_requant_incre"]))
                fetched["v_lsb"] += values * row_bytes(d, int(row["auto_requant_incre"]))
            dense += 2 * length * row_bytes(d, 16)
    total = sum(fetched.values())
    return {"workload": path.name, "bytes_fetched": total, "bytes_dense_16bit": dense,
            **{f"bytes_{k}": v for k, v in fetched.items()}, "reduction_x": dense / total}


def render(report):
    """A Markdown table of a ``fetcher_bandwidth.json`` report."""
    lines = [f"Fetcher at `{report['preset']}` ({report['data_bits']}-bit AXI4 port, "
             f"{report['outstanding']} bursts in flight, {report['row_bytes']}-byte MSB rows), measured on "
             f"Verilator: {report['lists_per_point']} index lists of {report['rows']} rows back to back per "
             f"point, fixed memory latency per burst, no stalls (seed {report['seed']}).",
             "",
             "| index list | latency (cycles) | rows | cycles | bytes / cycle | peak | peak fraction |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for p in report["points"]:
        kind = "dense" if p["density"] >= 1 else f"{int(p['density'] * 100)}% random"
        lines.append(f"| {kind} | {p['latency']} | {p['rows']} | {p['cycles']} | {p['bytes_per_cycle']:.2f} "
                     f"| {p['peak_bytes_per_cycle']} | {p['peak_fraction']:.3f} |")
    w = report.get("workload")
    if w:
        lines += ["", f"DRAM bytes of the release's GPT-2 trace (`{w['workload']}`, its pruning and bit "
                      f"settings, LSB re-fetch where it re-fetched) vs dense 16-bit K and V: "
                      f"{w['bytes_fetched']:,} vs {w['bytes_dense_16bit']:,} bytes, "
                      f"{w['reduction_x']:.2f}x fewer."]
    return "\n".join(lines)


def _parser():
    parser = argparse.ArgumentParser(prog="python -m gen.bench_fetcher", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="build", help="build folder (report in OUT/reports/)")
    parser.add_argument("--preset", default="ulx3s", help="configuration preset (default ulx3s)")
    parser.add_argument("--lists", type=int, default=4, help="index lists per point (1..64)")
    parser.add_argument("--seed", type=int, default=2021, help="seed of the random index lists")
    return parser


def main(args=None):
    """Run the benchmark; ``args`` is an argv list (or None for ``sys.argv``)."""
    from gen.config import ConfigError, preset

    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if args is None else list(args))
    if not 1 <= args.lists <= 64:
        parser.error(f"--lists must be in 1..64, not {args.lists}")
    try:
        config = preset(args.preset)
    except ConfigError as error:
        parser.error(f"--preset: {error}")
    from golden.quant import row_bytes

    out = Path(args.out)
    points = measure(config, args.lists, args.seed, out)
    report = {"block": "fetcher", "simulator": "verilator", "preset": config.name,
              "data_bits": config.axi_data_bits, "outstanding": config.axi_outstanding,
              "row_bytes": row_bytes(config.head_dim, config.msb_bits), "rows": config.max_context,
              "lists_per_point": args.lists, "seed": args.seed, "points": points,
              "workload": workload_savings(_workload()) if _workload() else None}
    from gen.bench import write_report

    write_report(out, "fetcher_bandwidth", report, render)
    return 0


if __name__ == "__main__":
    sys.exit(main())
