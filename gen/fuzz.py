"""Fuzzed configurations: ``python -m gen fuzz`` (``make fuzz``).

Every configuration :class:`gen.config.SpattenConfig` accepts must give
hardware that builds and works; every one it cannot serve must be refused
with a message naming the field and what is allowed. :func:`draws` is a
``hypothesis`` strategy over every field and combination: presets as they
are, presets with fields replaced (values in and out of range, wrong types),
and TOML files (the same, plus unknown keys and preset names that do not
exist). :func:`check_draw` takes one draw and either

- checks the :class:`gen.config.ConfigError` names a key the draw set and says
  what is allowed (``must``/``allowed``), or
- emits the Verilog of every block of :data:`gen.blocks.BLOCKS` and checks it
  with :func:`gen.lint.check_verilog` (Verilator lint, Yosys ``check -assert``),
  and on a sample of draws runs each block's smoke request on Verilator
  (:func:`gen.smoke.run_smoke`, bit-exact against golden).

A run writes what it tried and what failed to ``<out>/reports/fuzz.json``;
``tests/test_fuzz.py`` runs a small fixed-seed slice of the same code.
"""

import argparse
import json
import math
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from hypothesis import strategies as st

from .blocks import BLOCKS
from .cli import OneLineParser
from .config import PRESETS, ConfigError, SpattenConfig, from_toml, preset

__all__ = ["Draw", "draws", "small_draws", "config_of", "check_draw", "run", "main", "render", "to_toml"]

FIELDS = [f.name for f in fields(SpattenConfig)]
INT_FIELDS = [f.name for f in fields(SpattenConfig) if f.type == "int"]
FLOAT_FIELDS = [f.name for f in fields(SpattenConfig) if f.type == "float"]


@dataclass(frozen=True)
class Draw:
    """One configuration to try: ``source`` is ``preset``, ``replace`` or ``toml``."""
    source: str
    base: object
    overrides: dict = field(default_factory=dict)

    def describe(self):
        return {"source": self.source, "base": _jsonable(self.base),
                "overrides": {key: _jsonable(value) for key, value in self.overrides.items()}}


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return repr(value)


# Small values that keep a build cheap (most combinations of them are valid).
_SMALL = {
    "head_dim": st.sampled_from([1, 2, 4, 8, 16]),
    "max_context": st.one_of(st.integers(1, 40), st.sampled_from([64, 100, 128])),
    "softmax_lanes": st.sampled_from([1, 2, 4, 8]),
    "softmax_fifo_depth": st.integers(2, 64),
    "topk_parallelism": st.sampled_from([2, 4, 8]),
    "topk_score_bits": st.integers(2, 24),
    "topk_engines": st.integers(1, 3),
    "axi_data_bits": st.sampled_from([32, 64, 128]),
    "axi_addr_bits": st.integers(16, 40),
    "axi_id_bits": st.integers(1, 8),
    "axi_outstanding": st.integers(1, 16),
    "requant_threshold": st.floats(0.0, 1.0),
    "token_prune_start": st.floats(0.0, 1.0),
    "token_keep_final": st.floats(0.01, 1.0),
    "head_prune_start": st.floats(0.0, 1.0),
    "head_keep_final": st.floats(0.01, 1.0),
    "value_keep": st.floats(0.01, 1.0),
}


def _wild(name):
    """Any value for field ``name``: in range, out of range, or of the wrong type."""
    wrong = st.one_of(st.text(max_size=4), st.booleans(), st.lists(st.integers(0, 3), max_size=2))
    if name == "name":
        return st.one_of(st.text(max_size=12), st.integers(-3, 3),
                         st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,10}", fullmatch=True))
    if name in FLOAT_FIELDS:
        return st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-0.5, 1.5), wrong,
                         st.integers(-2, 2))
    return st.one_of(st.integers(-2, 2), st.integers(-(1 << 20), 1 << 20), st.integers(0, 1 << 70),
                     st.sampled_from([3, 5, 6, 48, 63, 64, 65, 127, 128, 255, 256, 257, 4096, 65536, 65537]),
                     st.floats(-10, 100), wrong)


# Narrower still, for the slice of `make test`: builds of a few seconds per block.
_CHEAP = {**_SMALL, "head_dim": st.sampled_from([1, 2, 4]), "max_context": st.integers(1, 16),
          "softmax_lanes": st.sampled_from([1, 2, 4]), "topk_parallelism": st.sampled_from([2, 4]),
          "topk_engines": st.integers(1, 2), "axi_data_bits": st.sampled_from([32, 64])}


@st.composite
def _small_overrides(draw, *, domains=_SMALL):
    """A few small fields, the coupled ones mostly consistent (multipliers in whole rows, MSB+LSB)."""
    names = draw(st.lists(st.sampled_from(sorted(domains)), max_size=6, unique=True))
    over = {name: draw(domains[name]) for name in names}
    default_dim = domains["head_dim"] if domains is _CHEAP else st.sampled_from([8, 8, 4])
    head_dim = over.get("head_dim", draw(default_dim))
    if "head_dim" in over or draw(st.booleans()):
        over["head_dim"] = head_dim
        over["qk_multipliers"] = head_dim * draw(st.integers(1, 4))
        over["pv_multipliers"] = head_dim * draw(st.integers(1, 4))
    if draw(st.booleans()):
        value_bits = draw(st.integers(2, 16))
        msb = draw(st.integers(1, value_bits - 1))
        over.update(value_bits=value_bits, msb_bits=msb, lsb_bits=value_bits - msb)
    return over


@st.composite
def _wild_overrides(draw, *, unknown):
    """Small fields and one to three fields of any value (unknown keys too, for TOML)."""
    over = draw(_small_overrides())
    for name in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True)):
        over[name] = draw(_wild(name))
    if unknown and draw(st.integers(0, 7)) == 0:
        over[draw(st.sampled_from(["head_dims", "lanes", "preset_name", "topk_P", "axi_data"]))] = 1
    return over


@st.composite
def draws(draw, *, presets=tuple(PRESETS)):
    """A :class:`Draw` over every field and combination, presets and TOML included."""
    source = draw(st.sampled_from(["preset", "replace", "replace", "toml", "toml"]))
    if source == "preset":
        return Draw("preset", draw(st.one_of(st.sampled_from(presets), st.text(max_size=6))))
    base = draw(st.sampled_from(["tiny", "tiny", "tiny", *presets]))
    wild = draw(st.booleans())
    if source == "toml":
        if draw(st.integers(0, 9)) == 0:
            base = draw(st.one_of(st.text(max_size=6), st.integers(0, 3)))
        over = draw(_wild_overrides(unknown=True) if wild else _small_overrides())
        return Draw("toml", base, over)
    return Draw("replace", base, draw(_wild_overrides(unknown=False) if wild else _small_overrides()))


def small_draws(*, cheap=False):
    """Draws of small, mostly valid configurations on the tiny preset (``cheap``: smaller still)."""
    return st.builds(lambda over: Draw("replace", "tiny", over),
                     _small_overrides(domains=_CHEAP if cheap else _SMALL))


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # A TOML basic string: quotes, backslashes and control characters escaped.
        return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7f or c in '"\\' else c
                             for c in value) + '"'
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


def to_toml(base, overrides):
    """The TOML text of a file that starts from preset ``base`` and sets ``overrides``."""
    lines = [f"preset = {_toml_value(base)}"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in overrides.items()]
    return "\n".join(lines) + "\n"


def config_of(d, workdir):
    """The configuration of draw ``d`` (raises :class:`ConfigError` when it is refused)."""
    if d.source == "preset":
        return preset(d.base)
    if d.source == "replace":
        return replace(preset(d.base), **d.overrides)
    path = Path(workdir) / "draw.toml"
    path.write_text(to_toml(d.base, d.overrides))
    return from_toml(path)


def _names_a_key(message, d):
    keys = list(d.overrides) + (["preset"] if d.source != "replace" else [])
    named = any(key in message for key in keys)
    return named and ("must" in message or "allowed" in message)


def _key(config):
    return json.dumps({k: _jsonable(v) for k, v in config.to_dict().items() if k != "name"}, sort_keys=True)


def check_config(config, folder, *, smoke_requests=0, blocks=None, seed=None, smoke_blocks=None, log=print):
    """Emit, lint and check every block of ``config`` in ``folder``; smoke them if ``smoke_requests``
    (only those of ``smoke_blocks`` if given).

    Returns ``(results, failures)``: per block ``{"block", "seconds", "waived", "smoke"}`` (or
    ``"refused"``: the block's documented refusal of an option it does not compute), and
    ``{"block", "stage", "message"}`` for each block that failed (stage ``build``, ``lint``/``check``
    or ``smoke``).
    """
    from amaranth.back import verilog

    from hw.core.core import UnsupportedConfig

    from .blocks import build_block
    from .lint import verilator_lint, yosys_check
    from .smoke import SMOKES, run_smoke

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    results, failures = [], []
    for name in blocks or sorted(BLOCKS):
        started, entry, stage = time.monotonic(), {"block": name}, "build"
        try:
            component = build_block(name, config)
            path = folder / f"{name}.v"
            path.write_text(verilog.convert(component, name=name, emit_src=False))
            stage = "lint"
            entry["waived"] = verilator_lint(path, name)
            stage = "check"
            yosys_check(path, name)
            if smoke_requests and name in SMOKES and (smoke_blocks is None or name in smoke_blocks):
                stage = "smoke"
                smoke = run_smoke(name, config, requests=smoke_requests, seed=seed, build_root=folder / "sim",
                                  run_name=f"smoke-{name}", component=build_block(name, config))
                entry["smoke"] = {"checked": smoke["checked"], "seed": smoke["seed"]}
        except UnsupportedConfig as error:
            # A refusal of the block (a golden-model option its hardware does not compute), named.
            entry["refused"] = str(error)
            log(f"fuzz: {name} refused: {error}")
        except Exception as error:  # whatever the stage, a failure is a finding to report
            message = str(error).strip().splitlines()
            failures.append({"block": name, "stage": stage, "message": "\n".join(message[:12]),
                             "error": type(error).__name__})
            log(f"fuzz: {name} failed at {stage}: {message[0] if message else type(error).__name__}")
        entry["seconds"] = round(time.monotonic() - started, 1)
        results.append(entry)
    return results, failures


def check_draw(d, workdir, *, built, smoke_requests=0, seed=None, smoke_blocks=None, build=True, log=print):
    """Check one draw; ``built`` caches configurations already checked (key -> record) in a run.

    Returns the draw's record: its description, ``outcome`` (``refused``, ``built``, ``cached``,
    ``bad refusal``, ``error``, or ``not built`` when ``build`` is false: past the run's time
    budget), the message or the blocks' results, and ``failures``.
    """
    record = d.describe()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        config = config_of(d, workdir)
    except ConfigError as error:
        ok = _names_a_key(str(error), d)
        record.update(outcome="refused" if ok else "bad refusal", message=str(error))
        record["failures"] = [] if ok else [{"stage": "config", "message": f"the message names no key the "
                                             f"draw set, or not what is allowed: {error}"}]
        return record
    except Exception as error:  # anything but a ConfigError is a finding
        record.update(outcome="error", message=f"{type(error).__name__}: {error}",
                      failures=[{"stage": "config", "message": f"{type(error).__name__}: {error}"}])
        return record
    key = _key(config)
    record["config"] = {k: _jsonable(v) for k, v in config.to_dict().items()}
    if key in built:
        record.update(outcome="cached", failures=[])
        return record
    if not build:
        record.update(outcome="not built", failures=[])
        return record
    folder = workdir / f"config{len(built):04d}"
    log(f"fuzz: building config{len(built):04d} ({d.source} {d.base!r} {d.overrides})")
    results, failures = check_config(config, folder, smoke_requests=smoke_requests, seed=seed,
                                     smoke_blocks=smoke_blocks, log=log)
    built[key] = folder.name
    record.update(outcome="built", folder=folder.name, blocks=results, failures=failures)
    return record


def run(*, draws_count, seed, out, smoke_every=5, smoke_requests=12, smoke_blocks=None, budget_s=None,
        strategy=None, log=print):
    """Try ``draws_count`` draws of ``strategy`` (default :func:`draws`) with hypothesis seed ``seed``.

    Every ``smoke_every``-th built configuration (0: none) also runs the smoke requests of
    ``smoke_blocks`` of its blocks (default all), the next ones in registry order each time.
    After ``budget_s`` seconds the draws are still checked for their refusals, but accepted
    ones are no longer built (outcome ``not built``). Returns the report (a dict).
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    workdir = Path(out) / "fuzz"
    records, built, started = [], {}, time.monotonic()

    @hypothesis_seed(seed)
    @settings(max_examples=draws_count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(draws() if strategy is None else strategy)
    def one(d):
        build = budget_s is None or time.monotonic() - started <= budget_s
        smoke = smoke_requests if smoke_every and len(built) % smoke_every == 0 else 0
        names = sorted(BLOCKS)
        per = len(names) if smoke_blocks is None else min(smoke_blocks, len(names))
        turn = len(built) // smoke_every if smoke_every else 0
        chosen = {names[(turn * per + i) % len(names)] for i in range(per)}
        t = time.monotonic()
        record = check_draw(d, workdir, built=built, smoke_requests=smoke, seed=seed, smoke_blocks=chosen,
                            build=build, log=log)
        record["seconds"] = round(time.monotonic() - t, 1)
        records.append(record)

    one()
    failures = [{"draw": number, **failure} for number, record in enumerate(records)
                for failure in record["failures"]]
    waived = {}
    for record in records:
        for block in record.get("blocks", []):
            for code, count in block.get("waived", {}).items():
                waived[code] = waived.get(code, 0) + count
    outcomes = {}
    for record in records:
        outcomes[record["outcome"]] = outcomes.get(record["outcome"], 0) + 1
    smoked = sum(1 for record in records for block in record.get("blocks", []) if "smoke" in block)
    return {"seed": seed, "draws": len(records), "outcomes": outcomes, "configs_built": len(built),
            "blocks": sorted(BLOCKS), "blocks_smoked": smoked, "lint_waived": dict(sorted(waived.items())),
            "seconds": round(time.monotonic() - started, 1), "failures": failures, "records": records}


def render(report):
    """A Markdown summary of a fuzz report."""
    outcomes = ", ".join(f"{count} {name}" for name, count in sorted(report["outcomes"].items()))
    lines = [f"Fuzzed configurations (`make fuzz`, hypothesis seed {report['seed']}): "
             f"{report['draws']} draws ({outcomes}); {report['configs_built']} configurations built, "
             f"every block ({len(report['blocks'])}) emitted, linted and checked; "
             f"{report['blocks_smoked']} block smoke runs on Verilator; {len(report['failures'])} failures."]
    for failure in report["failures"][:10]:
        first = failure["message"].splitlines()[0] if failure["message"] else ""
        where = f"{failure.get('block', 'config')} ({failure['stage']})"
        lines.append(f"- draw {failure['draw']} {where}: {first}")
    return "\n".join(lines)


def _parser():
    parser = OneLineParser(prog="python -m gen fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="build", help="build folder (report in OUT/reports/fuzz.json)")
    parser.add_argument("--draws", type=_positive, default=300, help="configurations to draw (default 300)")
    parser.add_argument("--seed", type=_positive, default=2021, help="hypothesis seed (default 2021)")
    parser.add_argument("--smoke-every", type=_natural, default=4,
                        help="smoke every block of every N-th built configuration (0: never; default 4)")
    parser.add_argument("--smoke-requests", type=_positive, default=12,
                        help="requests per smoke (default 12)")
    parser.add_argument("--smoke-blocks", type=_positive, default=None, metavar="N",
                        help="blocks smoked per sampled configuration, in turn (default: all)")
    parser.add_argument("--budget", type=_positive, default=None, metavar="SECONDS",
                        help="build no more configurations after this many seconds (refusals still checked)")
    return parser


def _at_least(lowest):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lowest:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lowest}, not {text!r}")
        return value
    return parse


_natural, _positive = _at_least(0), _at_least(1)


def main(argv=None):
    from .bench import write_report

    args = _parser().parse_args(argv)
    report = run(draws_count=args.draws, seed=args.seed, out=args.out, smoke_every=args.smoke_every,
                 smoke_requests=args.smoke_requests, smoke_blocks=args.smoke_blocks, budget_s=args.budget)
    write_report(args.out, "fuzz", report, render)
    return 1 if report["failures"] else 0
