"""gen.bitstream: the ULX3S wrapper's pins and the report's figures (the build itself is `make bitstream`)."""

from amaranth_boards.ulx3s import ULX3S_85F_Platform

from gen.bitstream import NAME, UlxTop, summary
from gen.config import preset
from hw.board.top import RAM_BASE, BoardTop


def test_wrapper_pins():
    top = BoardTop(preset("tiny"), 4096, clock_hz=25_000_000, baud=115_200)
    plan = ULX3S_85F_Platform().prepare(UlxTop(top), name=NAME)
    lpf = plan.files[f"{NAME}.lpf"]
    # The FTDI serial (rx M1, tx L4), LED 0 and the 25 MHz clock at its frequency.
    for site in ("M1", "L4", "B2", "G2"):
        assert f'SITE "{site}"' in lpf, site
    assert "25000000" in lpf


def test_summary_from_nextpnr_report():
    report = {"utilization": {"TRELLIS_COMB": {"used": 50000, "available": 83640},
                              "TRELLIS_FF": {"used": 20000, "available": 83640},
                              "MULT18X18D": {"used": 130, "available": 156},
                              "DP16KD": {"used": 170, "available": 208}},
              "fmax": {"$glbnet$clk": {"achieved": 41.234, "constraint": 25.0}}}
    got = summary(report, preset("ulx3s"), 128 * 1024, 12.3)
    assert got["lut"] == {"used": 50000, "available": 83640}
    assert got["dsp"]["used"] == 130 and got["ebr"] == {"used": 170, "available": 208}
    assert got["fmax_mhz"] == {"$glbnet$clk": 41.23}
    assert got["ram_bytes"] == 128 * 1024 and got["address_map"]["ram"] == RAM_BASE


def test_failed_build_reports(tmp_path, monkeypatch):
    """A tool that stops: bitstream.json names the error and its log's tail, BitstreamFailed says where."""
    import json
    import subprocess

    import pytest
    from amaranth.hdl import Fragment, Module
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    import gen.bitstream as bitstream

    class StandIn(wiring.Component):
        rx: In(1)
        tx: Out(1)
        irq: Out(1)

        def __init__(self, cfg, ram_bytes, **kwargs):
            super().__init__()

        def elaborate(self, platform):
            return Module()

    def build(platform, elaboratable, *, name, build_dir, **kwargs):
        Fragment.get(elaboratable, platform)
        log = tmp_path / "bitstream" / "tiny" / f"{name}.tim"
        log.write_text("Info: placing\nERROR: DP16KD: 300 of 208\n")
        raise subprocess.CalledProcessError(1, ["sh", f"build_{name}.sh"])

    monkeypatch.setattr(bitstream, "BoardTop", StandIn)
    monkeypatch.setattr(ULX3S_85F_Platform, "build", build)
    with pytest.raises(bitstream.BitstreamFailed, match=r"(?s)build of 'tiny' failed.*DP16KD: 300 of 208"):
        bitstream.build(preset("tiny"), tmp_path, ram_bytes=4096)
    report = json.loads((tmp_path / "reports" / "bitstream.json").read_text())
    assert report["log_tail"][-1] == "ERROR: DP16KD: 300 of 208" and report["ram_bytes"] == 4096
