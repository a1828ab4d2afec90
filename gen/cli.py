"""Command line of the generator: ``python -m gen verilog|synth|bench|eval|sweep|fuzz|soak|capture|report``.

``verilog`` and ``synth`` take a configuration (``--preset NAME`` or
``--config FILE.toml``), an output folder (``--out``, default ``build``) and a
block list (``--blocks a,b``, default every block of :data:`gen.blocks.BLOCKS`).
``bench``, ``eval``, ``sweep``, ``fuzz``, ``soak`` and ``capture`` hand the rest of the
command line to ``gen.bench.main`` (``bench NAME``: the module of :data:`BENCHES`),
``gen.eval.main``, ``gen.sweep.main``, ``gen.fuzz.main``, ``gen.soak.main`` and ``gen.capture.main``.
``report`` re-renders the README tables from ``build/reports/*.json``.

A bad parameter ends the program with a one-line error naming it and exit
code 2, never with a traceback.
"""

import argparse
import importlib
import sys
import tomllib
from pathlib import Path

from .blocks import BLOCKS
from .config import PRESETS, ConfigError, load
from .executor import ExecutorError

__all__ = ["main", "parse_blocks", "config_from_args"]

DEFAULT_PRESET = "ulx3s"
# `python -m gen bench NAME ...`: the benchmark of one block (plain `bench`: the top-k engine's).
BENCHES = {"softmax": "gen.bench_softmax", "arrays": "gen.bench_arrays", "fetcher": "gen.bench_fetcher",
           "head": "gen.bench_head", "core": "gen.bench_core", "core_rtl": "gen.bench_core_rtl"}


class UsageError(Exception):
    """A command-line parameter is wrong; the message names it."""


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (``prog: error: ...``, exit 2), without the usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_blocks(text):
    """The block names of a ``--blocks a,b`` value (``None``: every block)."""
    if text is None:
        return sorted(BLOCKS)
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise UsageError(f"--blocks must name at least one of {', '.join(sorted(BLOCKS)) or '(none)'}")
    for name in names:
        if name not in BLOCKS:
            raise UsageError(f"--blocks: block must be one of {', '.join(sorted(BLOCKS)) or '(none)'}, "
                             f"not {name!r}")
    return names


def parse_seeds(text):
    """The placement seeds of a ``--seeds 1,2,3`` value."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        seeds = []
    if not seeds or any(not 0 <= s < 2**31 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds must be distinct integers in 0..2147483647, comma-separated, "
                         f"not {text!r}")
    return seeds


def config_from_args(args):
    """The :class:`gen.config.SpattenConfig` named by ``--preset``/``--config``."""
    if args.config is not None:
        path = Path(args.config)
        if not path.is_file():
            raise UsageError(f"--config: no such file {str(path)!r}")
        try:
            return load(config_path=path)
        except tomllib.TOMLDecodeError as error:
            raise UsageError(f"--config: {path} is not valid TOML: {error}") from None
        except UnicodeDecodeError:
            raise UsageError(f"--config: {path} is not valid TOML: not UTF-8 text") from None
        except OSError as error:
            raise UsageError(f"--config: cannot read {path}: {error.strerror or error}") from None
        except ConfigError as error:
            raise UsageError(f"--config: {error}") from None
        except TypeError as error:
            # e.g. ``preset = 3`` in the file: preset names are strings.
            raise UsageError(f"--config: {error}") from None
    try:
        return load(preset_name=args.preset)
    except ConfigError as error:
        raise UsageError(f"--preset: {error}") from None


def _parser():
    parser = OneLineParser(
        prog="python -m gen",
        description="SpAtten RTL generator: Verilog emission, synthesis, benchmarks, evaluation, reports.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_config(sub):
        sub.add_argument("--preset", default=DEFAULT_PRESET,
                         help=f"preset name: {', '.join(PRESETS)} (default {DEFAULT_PRESET})")
        sub.add_argument("--config", metavar="FILE.toml",
                         help="TOML configuration (field names, optional preset = \"name\" as base); "
                              "overrides --preset")
        sub.add_argument("--out", default="build", metavar="DIR", help="output folder (default build)")
        sub.add_argument("--blocks", metavar="a,b",
                         help="comma-separated block names (default: every registered block)")

    add_config(commands.add_parser("verilog", help="emit Verilog of every block, config.json, params header"))
    synth = commands.add_parser("synth", help="Yosys cell counts and nextpnr-ecp5 Fmax/utilization")
    add_config(synth)
    synth.add_argument("--no-pnr", action="store_true", help="Yosys only, no place-and-route")
    synth.add_argument("--ice40-pnr", action="store_true",
                       help="also place and route on iCE40 UP5K when the block fits")
    synth.add_argument("--seeds", default="1", metavar="1,2,3",
                       help="nextpnr placement seeds (Fmax: the median seed's; default 1)")
    synth.add_argument("--executor", metavar="ADDRESS",
                       help="run the jobs on a Dask scheduler (HOST:PORT, or 'local' for a LocalCluster); "
                            "default a process pool")
    synth.add_argument("--workers", type=int, metavar="N",
                       help="worker processes of the pool or LocalCluster (default: the CPUs)")
    synth.add_argument("--force", action="store_true", help="redo reports whose inputs did not change")
    synth.add_argument("--no-ceilings", action="store_true",
                       help="do not place and route the reference designs of gen/ceilings.py")
    commands.add_parser("bench", help="benchmarks: top-k (gen.bench), or bench NAME for "
                        f"NAME in {', '.join(BENCHES)}", add_help=False)
    commands.add_parser("eval", help="real-model evaluation (gen.eval)", add_help=False)
    commands.add_parser("sweep", help="area and Fmax against array size, softmax lanes, top-k P (gen.sweep)",
                        add_help=False)
    commands.add_parser("fuzz", help="fuzzed configurations: build, lint, check, smoke (gen.fuzz)",
                        add_help=False)
    commands.add_parser("soak", help="many randomized requests per block on Verilator (gen.soak)",
                        add_help=False)
    commands.add_parser("capture", help="real Q/K/V of MiniLM and SmolLM2 for the core's tests (gen.capture)",
                        add_help=False)
    report = commands.add_parser("report", help="render build/reports/*.json into README.md")
    report.add_argument("--out", default="build", metavar="DIR",
                        help="build folder whose reports/*.json are rendered (default build)")
    report.add_argument("--readme", default="README.md", metavar="FILE", help="file to render into")
    return parser


def _delegate(module_name, argv):
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise UsageError(f"{module_name} is not available in this tree") from None
    return module.main(argv)


def main(argv=None):
    """Run the command line; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # bench and eval own their options: pass everything after the command through.
    if argv and argv[0] in ("bench", "eval", "sweep", "fuzz", "soak", "capture"):
        module, rest = f"gen.{argv[0]}", argv[1:]
        if argv[0] == "bench" and rest[:1] and rest[0] in BENCHES:
            module, rest = BENCHES[rest[0]], rest[1:]
        try:
            return _delegate(module, rest) or 0
        except UsageError as error:
            print(f"python -m gen {argv[0]}: error: {error}", file=sys.stderr)
            return 2
    args = _parser().parse_args(argv)
    try:
        if args.command == "report":
            from . import report
            report.render_readme(Path(args.readme), Path(args.out) / "reports")
            return 0
        config = config_from_args(args)
        blocks = parse_blocks(args.blocks)
        out = Path(args.out)
        if args.command == "verilog":
            from . import verilog
            for path in verilog.emit(config, out, blocks):
                print(path)
            return 0
        from . import synth
        seeds = parse_seeds(args.seeds)
        if args.workers is not None and args.workers < 1:
            raise UsageError(f"--workers must be >= 1, not {args.workers}")
        try:
            paths = synth.run(config, out, blocks, pnr=not args.no_pnr, ice40_pnr=args.ice40_pnr,
                              seeds=seeds, force=args.force, executor_address=args.executor,
                              workers=args.workers, ceilings=not args.no_ceilings)
        except synth.SynthFailed as error:
            print(f"python -m gen synth: {error}", file=sys.stderr)
            return 1
        except ExecutorError as error:
            raise UsageError(f"--executor: {error}") from None
        for path in paths:
            print(path)
        return 0
    except UsageError as error:
        print(f"python -m gen {args.command}: error: {error}", file=sys.stderr)
        return 2
