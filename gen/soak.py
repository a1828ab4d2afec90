"""Soak runs: ``python -m gen soak`` (``make soak``).

Many randomized requests per block on Verilator, each block on its own
testbench's randomized tests (:data:`gen.smoke.SMOKES`: random bubbles on
every input, backpressure on every output, memory latency and AR/R stalls
for the fetcher), every request checked bit-exact against golden. A block
runs in chunks of ``--chunk`` requests (one simulation each, the build
reused), seed ``seed + i`` for chunk ``i``, until ``--requests`` are checked
(100,000 by default); a mismatch stops that block and is reported with its
seed (``SEED=<seed>`` reproduces the chunk under pytest, or ``--seed``).

Writes ``<out>/reports/soak.json``: a run of some blocks replaces their
rows in the report already there (same configuration; :func:`merge`), so
blocks can be soaked one at a time; ``--fresh`` starts a new one.
:func:`render` is the README's reliability table (``gen.report`` section
``soak``).
"""

import json
import sys
import time
from pathlib import Path

from .cli import OneLineParser, UsageError, config_from_args, parse_blocks
from .fuzz import _natural, _positive

__all__ = ["main", "render", "merge", "soak_block", "DEFAULT_REQUESTS"]

DEFAULT_REQUESTS = 100_000
DEFAULT_CHUNK = 2_000


def soak_block(name, config, *, requests, chunk, seed, out, log=print):
    """Soak block ``name`` of ``config``: chunks until ``requests`` are checked or one fails."""
    from sim.runner import SimulationFailed

    from .smoke import run_smoke

    checked, seeds, failures, started = 0, [], [], time.monotonic()
    while checked < requests:
        chunk_seed = seed + len(seeds)
        seeds.append(chunk_seed)
        try:
            result = run_smoke(name, config, requests=chunk, seed=chunk_seed, build_root=Path(out) / "sim",
                               run_name=f"soak-{name}-{config.name}")
        except SimulationFailed as error:
            failures.append({"seed": chunk_seed, "message": "\n".join(str(error).splitlines()[:12])})
            log(f"soak: {name} chunk seed {chunk_seed} FAILED")
            break
        checked += result["checked"]
        log(f"soak: {name} seed {chunk_seed}: {result['checked']} checked, {checked} in all")
    return {"block": name, "target": requests, "chunk": chunk, "requests_checked": checked,
            "runs": len(seeds), "seeds": seeds,
            "mismatches": len(failures), "failures": failures,
            "seconds": round(time.monotonic() - started, 1)}


def merge(previous, report):
    """``report`` with the blocks of ``previous`` it did not run (``previous`` of the same configuration)."""
    if not previous or previous.get("config") != report["config"]:
        return report
    ran = {block["block"] for block in report["blocks"]}
    kept = [block for block in previous.get("blocks", []) if block["block"] not in ran]
    return {**report, "blocks": sorted(kept + report["blocks"], key=lambda block: block["block"])}


def render(report):
    """The reliability table of a soak report."""
    lines = [f"Soak runs (`make soak`, configuration `{report['config']}`, Verilator, random bubbles on "
             f"every input, backpressure on every output, memory latency and stalls on every memory "
             f"channel; a block runs in chunks, seed = first seed + chunk; the default target is "
             f"{DEFAULT_REQUESTS:,} per block, the core's {_core_target():,} layer commands):", "",
             "| block | target | chunk | requests checked | runs | seeds | mismatches | seconds |",
             "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    for block in report["blocks"]:
        seeds = block["seeds"]
        span = f"{seeds[0]}..{seeds[-1]}" if len(seeds) > 1 else (str(seeds[0]) if seeds else "–")
        lines.append(f"| {block['block']} | {_count(block.get('target'))} | {_count(block.get('chunk'))} "
                     f"| {block['requests_checked']:,} | {block['runs']} | {span} "
                     f"| {block['mismatches']} | {_seconds(block.get('seconds'))} |")
    lines += ["", "Requests as each testbench counts them: rows for the softmax, input beats for "
              "`topk_rank` and `topk_packer`, requests and re-fetch decisions for the fetcher, register "
              "accesses for `axil_regs`, reads (all masters) for `axi_read_arbiter`, output rows of random "
              "jobs for `head`, layer commands for "
              "the core and `sequence_state`, commands of random command lists (the host driver on the "
              "control plane and a copying datapath) for `control_plane`; every one checked bit-exact "
              "against golden."
              + (f" {report['note']}" if report.get("note") else "")]
    return "\n".join(lines)


def _core_target():
    from .smoke import SOAK_TARGETS
    return SOAK_TARGETS["core"][0]


def _count(value):
    return "–" if value is None else f"{value:,}"


def _seconds(value):
    return "–" if value is None else f"{value:.0f}"


def _parser():
    parser = OneLineParser(prog="python -m gen soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="build", help="build folder (report in OUT/reports/soak.json)")
    parser.add_argument("--preset", default="tiny", help="preset (default tiny)")
    parser.add_argument("--config", metavar="FILE.toml", help="TOML configuration; overrides --preset")
    parser.add_argument("--blocks", metavar="a,b", help="blocks (default: every registered block)")
    parser.add_argument("--requests", type=_positive, default=DEFAULT_REQUESTS,
                        help=f"requests to check per block (default {DEFAULT_REQUESTS})")
    parser.add_argument("--chunk", type=_positive, default=DEFAULT_CHUNK,
                        help=f"requests per simulation (default {DEFAULT_CHUNK})")
    parser.add_argument("--seed", type=_natural, default=2021, help="seed of the first chunk (default 2021)")
    parser.add_argument("--fresh", action="store_true",
                        help="start a new report instead of replacing these blocks' rows in OUT's")
    return parser


def main(argv=None):
    from .bench import write_report

    args = _parser().parse_args(argv)
    try:
        config = config_from_args(args)
        blocks = parse_blocks(args.blocks)
    except UsageError as error:
        print(f"python -m gen soak: error: {error}", file=sys.stderr)
        return 2
    from .smoke import SMOKES, SOAK_TARGETS
    blocks = [name for name in blocks if name in SMOKES]
    report = {"config": config.name, "requests_per_block": args.requests, "chunk": args.chunk,
              "seed": args.seed, "blocks": []}
    results = report["blocks"]
    path = Path(args.out) / "reports" / "soak.json"
    previous = None if args.fresh or not path.exists() else json.loads(path.read_text())
    for name in blocks:
        requests, chunk = args.requests, args.chunk
        if name in SOAK_TARGETS and requests == DEFAULT_REQUESTS:
            requests, chunk = SOAK_TARGETS[name][0], min(chunk, SOAK_TARGETS[name][1])
        results.append(soak_block(name, config, requests=requests, chunk=min(chunk, requests),
                                  seed=args.seed, out=args.out))
        # After every block: a long run that is stopped keeps what it has done.
        write_report(args.out, "soak", merge(previous, report), render)
    return 1 if any(block["mismatches"] for block in results) else 0
