"""Area and Fmax against the generator's size parameters: ``python -m gen sweep``.

Each axis varies one :class:`gen.config.SpattenConfig` field from a base
preset and synthesizes the block it sizes (:data:`AXES`: the Q x K array's
multipliers, the softmax lanes, the top-k comparators P). Every point is one
:func:`gen.synth.synth_block` job (cached by its input hash like any other),
and all jobs run on one executor (:func:`gen.executor.executor`: a process
pool by default, a Dask scheduler with ``--executor HOST:PORT``, a
``LocalCluster`` with ``--executor local``), with a progress bar.

Writes ``OUT/reports/sweep.json`` (one row per point) and a plot per axis,
``OUT/reports/sweep_<field>.png`` (LUT4 and Fmax against the value).
"""

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

__all__ = ["AXES", "points", "sweep", "render", "plot", "main"]

#: field -> (block it sizes, values).
AXES = {"qk_multipliers": ("qk", (64, 128, 256, 512)),
        "softmax_lanes": ("softmax", (1, 2, 4, 8)),
        "topk_parallelism": ("topk", (2, 4, 8, 16))}


def points(base, axes):
    """``[(field, value, block, config)]`` of the sweep; configs named after their point."""
    out = []
    for field, (block, values) in axes.items():
        for value in values:
            config = replace(base, name=f"{base.name}-{field.replace('_', '-')}-{value}", **{field: value})
            out.append((field, value, block, config))
    return out


def _row(field, value, block, path):
    report = json.loads(Path(path).read_text())
    return {"field": field, "value": value, "block": block, "config": report["config"],
            **{key: report.get(key) for key in ("lut4", "ff", "dsp", "ebr", "fmax_mhz")}}


def sweep(base, out, axes=None, *, pnr=True, seeds=(1,), executor_address=None, workers=None,
          force=False):
    """Run the sweep; return the report dict (also written to ``OUT/reports/sweep.json``)."""
    from .executor import JobFailed, executor, run_jobs
    from .synth import synth_block, tool_versions

    axes = AXES if axes is None else axes
    versions = tool_versions()
    grid = points(base, axes)
    jobs = {config.name: (synth_block, (block, config, out),
                          {"pnr": pnr, "seeds": seeds, "versions": versions, "force": force})
            for _, _, block, config in grid}
    with executor(executor_address, workers=workers) as pool:
        results = run_jobs(pool, jobs, f"sweep {base.name}")
    rows, failures = [], []
    for field, value, block, config in grid:
        result = results[config.name]
        if isinstance(result, JobFailed):
            failures.append(str(result))
        else:
            rows.append(_row(field, value, block, result))
    report = {"base": base.name, "pnr": pnr, "seeds": list(seeds), "points": rows, "failures": failures}
    path = Path(out) / "reports" / "sweep.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, Path(out) / "reports")
    return report


def plot(report, folder):
    """One PNG per axis: LUT4 (left axis) and Fmax (right axis) against the value."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for field in dict.fromkeys(row["field"] for row in report["points"]):
        rows = [row for row in report["points"] if row["field"] == field]
        fig, area = plt.subplots(figsize=(5, 3.2), dpi=110)
        values = [row["value"] for row in rows]
        area.plot(values, [row["lut4"] for row in rows], "o-", color="tab:blue", label="LUT4")
        area.set_xscale("log", base=2)
        area.set_xlabel(f"{field} ({rows[0]['block']}, base {report['base']})")
        area.set_ylabel("LUT4", color="tab:blue")
        fmax = [(row["value"], row["fmax_mhz"]) for row in rows if row["fmax_mhz"]]
        if fmax:
            speed = area.twinx()
            speed.plot(*zip(*fmax, strict=True), "s--", color="tab:red", label="Fmax")
            speed.set_ylabel("Fmax (MHz)", color="tab:red")
        fig.tight_layout()
        path = Path(folder) / f"sweep_{field}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def render(report):
    """README table of a sweep report."""
    lines = ["| field | value | block | LUT4 | FF | DSP | EBR | Fmax (MHz) |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in report["points"]:
        fmax = row["fmax_mhz"] if row["fmax_mhz"] is not None else "–"
        lines.append(f"| {row['field']} | {row['value']} | {row['block']} | {row['lut4']} | {row['ff']} | "
                     f"{row['dsp']} | {row['ebr']} | {fmax} |")
    lines.append("")
    lines.append(f"Base preset {report['base']}; place and route {'on' if report['pnr'] else 'off'} "
                 f"(seeds {', '.join(map(str, report['seeds']))}). Failed points: "
                 f"{'; '.join(report['failures']) or 'none'}. Plots: " + ", ".join(
                     f"`build/reports/sweep_{field}.png`"
                     for field in dict.fromkeys(r["field"] for r in report["points"])) + ".")
    return "\n".join(lines)


def _parser():
    parser = argparse.ArgumentParser(prog="python -m gen sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="ulx3s", help="base preset (default ulx3s)")
    parser.add_argument("--out", default="build", help="build folder")
    parser.add_argument("--axes", default=",".join(AXES), help=f"comma-separated fields of {', '.join(AXES)}")
    parser.add_argument("--no-pnr", action="store_true", help="Yosys only")
    parser.add_argument("--seeds", default="1", help="nextpnr seeds, comma-separated")
    parser.add_argument("--executor", metavar="ADDRESS", help="Dask scheduler HOST:PORT, or 'local'")
    parser.add_argument("--workers", type=int, help="worker processes (default: the CPUs)")
    parser.add_argument("--force", action="store_true", help="redo cached points")
    return parser


def main(argv=None):
    from .cli import UsageError, parse_seeds
    from .config import ConfigError, preset
    from .executor import ExecutorError

    parser = _parser()
    args = parser.parse_args(argv)
    try:
        base = preset(args.preset)
        fields = [name.strip() for name in args.axes.split(",") if name.strip()]
        unknown = [name for name in fields if name not in AXES]
        if unknown or not fields:
            parser.error(f"--axes must name fields of {', '.join(AXES)}, not {args.axes!r}")
        if args.workers is not None and args.workers < 1:
            parser.error(f"--workers must be >= 1, not {args.workers}")
        axes = {name: AXES[name] for name in fields}
        points(base, axes)   # every point's configuration is checked here (ConfigError)
        report = sweep(base, args.out, axes, pnr=not args.no_pnr, seeds=parse_seeds(args.seeds),
                       executor_address=args.executor, workers=args.workers, force=args.force)
    except (ConfigError, UsageError, ExecutorError) as error:
        parser.error(str(error))
    print(render(report))
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
