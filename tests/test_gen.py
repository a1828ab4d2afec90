"""gen: command line, Verilog emission, synthesis harness, README report rendering.

A small stand-in component (registered only for these tests) stands for the
real blocks, so the tests cover the flow whatever gen.blocks holds.
"""

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
from amaranth.hdl import Fragment, Module, Mux
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from gen import blocks, report, synth
from gen.cli import main
from gen.config import PRESETS
from gen.harness import Harness

ROOT = Path(__file__).resolve().parent.parent


class StandIn(wiring.Component):
    """Registered maximum and product of the lanes of a stream beat (latency 1)."""

    def __init__(self, *, lanes, bits):
        self._lanes, self._bits = lanes, bits
        super().__init__({
            "scores": In(stream.Signature(data.ArrayLayout(bits, lanes))),
            "result": Out(stream.Signature(data.StructLayout({"max": bits, "prod": 2 * bits}))),
        })

    def elaborate(self, platform):
        m = Module()
        lanes = self.scores.payload
        best = lanes[0]
        for i in range(1, self._lanes):
            best = Mux(lanes[i] > best, lanes[i], best)
        m.d.comb += self.scores.ready.eq(~self.result.valid | self.result.ready)
        with m.If(self.scores.valid & self.scores.ready):
            m.d.sync += [self.result.payload.max.eq(best),
                         self.result.payload.prod.eq(lanes[0] * lanes[1]),
                         self.result.valid.eq(1)]
        with m.Elif(self.result.ready):
            m.d.sync += self.result.valid.eq(0)
        return m


def _standin(config):
    return StandIn(lanes=config.topk_parallelism, bits=config.topk_score_bits)


@pytest.fixture
def standin(monkeypatch):
    monkeypatch.setitem(blocks.BLOCKS, "standin", _standin)
    return "standin"


def _error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


# Command line -----------------------------------------------------------------------------------

def test_cli_preset_wrong(capsys, tmp_path):
    code, err = _error(capsys, ["verilog", "--preset", "huge", "--out", str(tmp_path)])
    assert code == 2
    assert err.strip() == ("python -m gen verilog: error: --preset: preset must be one of "
                           "tiny, ulx3s, paper, not 'huge'")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("text, message", [
    ("topk_parallelism = 3\n", "--config: topk_parallelism must be a power of two in 2..32, not 3"),
    ("paralelism = 3\n", "--config: unknown configuration key(s) in"),
    ("head_dim = \n", "is not valid TOML"),
    ('preset = "huge"\n', "--config: preset must be one of tiny, ulx3s, paper, not 'huge'"),
    ("preset = [1]\n", "--config: preset must be one of tiny, ulx3s, paper, not [1]"),
    # Wrong types and values of every kind (tests/test_gen_cli_input.py has the other bad input).
    ('head_dim = "64"\n', "--config: head_dim must be an integer, not '64'"),
    ("head_dim = 64.0\n", "--config: head_dim must be an integer, not 64.0"),
    ("max_context = true\n", "--config: max_context must be an integer, not True"),
    ("value_keep = \"half\"\n", "--config: value_keep must be a number, not 'half'"),
    ("[head_dim]\nx = 1\n", "--config: head_dim must be an integer, not {'x': 1}"),
    ("name = 7\n", "--config: name must be a non-empty string"),
    ("max_context = 0\n", "--config: max_context must be in 1..65536, not 0"),
    ("axi_data_bits = 48\n", "--config: axi_data_bits must be a power of two in 32..1024, not 48"),
    ("requant_threshold = nan\n", "--config: requant_threshold must be in 0.0..1.0, not nan"),
    ("token_keep_final = 0\n", "--config: token_keep_final must be in (0, 1], not 0.0"),
    ("lsb_bits = 0\nmsb_bits = 12\n", "--config: lsb_bits must be in 1..15, not 0"),
    ("topk_parallelism = 64\n", "--config: topk_parallelism must be a power of two in 2..32, not 64"),
    ("qk_multipliers = 100\n", "--config: qk_multipliers must be a multiple of head_dim (64) in 64..4096"),
    ("preset = 3\n", "--config: preset must be one of tiny, ulx3s, paper, not 3"),
    ("preset = \"tinyy\"\n", "--config: preset must be one of tiny, ulx3s, paper, not 'tinyy'"),
    ("head_dims = 64\n", "--config: unknown configuration key(s) in"),
    ("head_dim = 64\nhead_dim = 32\n", "is not valid TOML"),
])
def test_cli_config_wrong(capsys, tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, err = _error(capsys, ["synth", "--config", str(path), "--out", str(tmp_path / "out")])
    assert code == 2
    assert message in err and err.count("\n") == 1, err


def test_cli_config_missing_wrong(capsys, tmp_path):
    code, err = _error(capsys, ["verilog", "--config", str(tmp_path / "none.toml")])
    assert code == 2
    assert "--config: no such file" in err


def test_cli_blocks_wrong(capsys, standin, tmp_path):
    code, err = _error(capsys, ["verilog", "--preset", "tiny", "--blocks", "standin,nope",
                                "--out", str(tmp_path)])
    assert code == 2
    assert "--blocks: block must be one of" in err and "not 'nope'" in err
    code, err = _error(capsys, ["verilog", "--preset", "tiny", "--blocks", ",", "--out", str(tmp_path)])
    assert code == 2 and "--blocks must name at least one of" in err


def test_cli_process_exit_code_wrong(tmp_path):
    argv = [sys.executable, "-m", "gen", "verilog", "--preset", "nope", "--out", str(tmp_path)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--preset" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command, module", [("bench", "gen.bench"), ("eval", "gen.eval")])
def test_cli_delegates(monkeypatch, command, module):
    seen = []
    fake = types.ModuleType(module)
    fake.main = lambda argv: seen.append(argv) or 7
    monkeypatch.setitem(sys.modules, module, fake)
    assert main([command, "--out", "x", "--fast"]) == 7
    assert seen == [["--out", "x", "--fast"]]


# Verilog ----------------------------------------------------------------------------------------

def test_verilog_emits_every_block(capsys, standin, tmp_path):
    assert main(["verilog", "--preset", "tiny", "--out", str(tmp_path)]) == 0
    vdir = tmp_path / "tiny" / "verilog"
    assert sorted(p.stem for p in vdir.glob("*.v")) == sorted(blocks.BLOCKS)
    text = (vdir / "standin.v").read_text()
    assert "module standin(" in text
    for port in ("scores__payload", "scores__valid", "scores__ready", "result__payload", "clk", "rst"):
        assert port in text
    assert "[47:0] scores__payload" in text  # P=4 lanes of 12 bits in the tiny preset
    config = json.loads((tmp_path / "tiny" / "config.json").read_text())
    assert config["topk_parallelism"] == 4 and config["name"] == "tiny"
    assert config["derived"] == {"index_bits": 6, "count_bits": 7, "multipliers": 32}
    assert "standin" in config["blocks"]
    header = (vdir / "spatten_params.vh").read_text()
    assert "`define SPATTEN_TOPK_PARALLELISM 4\n" in header
    assert "`define SPATTEN_INDEX_BITS 6\n" in header


def test_verilog_deterministic(capsys, standin, tmp_path):
    for out in ("a", "b"):
        assert main(["verilog", "--preset", "tiny", "--blocks", "standin", "--out", str(tmp_path / out)]) == 0
    first, second = (tmp_path / out / "tiny" / "verilog" / "standin.v" for out in ("a", "b"))
    assert first.read_text() == second.read_text()
    assert str(ROOT) not in first.read_text()  # no source paths in the output


def test_verilog_config_file(capsys, standin, tmp_path):
    path = tmp_path / "narrow.toml"
    path.write_text('preset = "tiny"\ntopk_score_bits = 6\n')
    assert main(["verilog", "--config", str(path), "--blocks", "standin", "--out", str(tmp_path)]) == 0
    assert "[23:0] scores__payload" in (tmp_path / "narrow" / "verilog" / "standin.v").read_text()


# Synthesis harness (Yosys only, no place and route) ---------------------------------------------

def test_harness_port_bits(standin):
    harness = Harness(_standin(PRESETS["tiny"]))
    # in: 4 x 12 payload + valid + result ready; out: scores ready + valid + 12 + 24 payload
    assert (harness.in_bits, harness.out_bits) == (50, 38)
    assert harness.tree_registers == 10 + 3 + 1
    assert harness.flip_flops == 50 + 38 + 14
    Fragment.get(harness, None)  # elaborates (Amaranth warns about unused elaboratables)


def test_yosys_counts_and_harness_keeps_everything(standin, tmp_path):
    config = PRESETS["tiny"]
    synth.emit(config, tmp_path, ["standin"])
    cells, _ = synth.yosys_stats(tmp_path / "tiny" / "verilog" / "standin.v", "standin", tmp_path)
    ecp5 = synth._ecp5_counts(cells["ecp5"])
    assert ecp5["ff"] == 12 + 24 + 1  # max, product, valid
    assert ecp5["dsp"] == 1 and ecp5["lut4"] > 0
    assert synth._ice40_counts(cells["ice40"])["sb_dff"] == 37
    assert sum(cells["generic"].values()) > 100
    harness = Harness(_standin(config))
    netlist, harness_cells, _ = synth.synth_harness(harness, tmp_path / "harness")
    assert json.loads(netlist.read_text())["modules"]
    # Every block register and every harness register survives optimisation.
    assert harness_cells["TRELLIS_FF"] == 37 + harness.flip_flops
    assert harness_cells["MULT18X18D"] == 1


def test_pnr_time_limit(standin, tmp_path, monkeypatch):
    """A nextpnr run past its time limit is stopped; the report keeps the area and says why."""
    monkeypatch.setenv("SPATTEN_PNR_TIME_LIMIT", "0.001")
    path = synth.synth_block("standin", PRESETS["tiny"], tmp_path)
    result = json.loads(path.read_text())
    assert result["fmax_mhz"] is None and result["ff"] == 37
    assert "stopped after 0.001 s" in result["pnr_ecp5_unfinished"]
    for bad in ("0", "-5", "soon"):
        monkeypatch.setenv("SPATTEN_PNR_TIME_LIMIT", bad)
        with pytest.raises(ValueError, match="SPATTEN_PNR_TIME_LIMIT must be a number of seconds > 0"):
            synth.pnr_time_limit()
    monkeypatch.delenv("SPATTEN_PNR_TIME_LIMIT")
    assert synth.pnr_time_limit() == synth.PNR_TIME_LIMIT_S


def test_yosys_keeps_registers_on_keep_wires(tmp_path):
    """Copies of a register (hw.replicate) stay apart through every flow; plain duplicates merge."""
    from amaranth.back import verilog as amaranth_verilog
    from amaranth.hdl import Cat, Module, Signal

    from hw.replicate import replicas

    def design(keep):
        m = Module()
        a, b, en = Signal(8), Signal(8), Signal()
        out = Signal(16)
        if keep:
            r1, r2 = replicas(m, a, 2, name="copy", enable=en)
        else:
            r1, r2 = Signal(8), Signal(8)
            with m.If(en):
                m.d.sync += [r1.eq(a), r2.eq(a)]
        m.d.sync += out.eq(Cat(r1 + b, r2 - b))
        return amaranth_verilog.convert(m, ports=[a, b, en, out], name="dup", emit_src=False)

    for keep, ffs in ((False, 16 + 8), (True, 16 + 8 + 8)):
        source, work = tmp_path / f"dup{int(keep)}.v", tmp_path / f"keep{int(keep)}"
        work.mkdir()
        source.write_text(design(keep))
        cells, _ = synth.yosys_stats(source, "dup", work)
        assert synth._ecp5_counts(cells["ecp5"])["ff"] == ffs
        assert synth._ice40_counts(cells["ice40"])["sb_dff"] == ffs
        # The copies keep their clock enable on the flip-flop: no LUT in front.
        assert cells["ecp5"].get("LUT4", 0) == 0


# README rendering -------------------------------------------------------------------------------

README = """# title
intro
<!-- BEGIN report:synth -->
old synth
<!-- END report:synth -->
middle
<!-- BEGIN report:topk_cycles -->
old cycles
<!-- END report:topk_cycles -->
<!-- BEGIN report:golden_accuracy -->
keep me
<!-- END report:golden_accuracy -->
tail
"""


def _synth_report(block, config, fmax):
    return {"block": block, "config": config, "lut4": 100, "ccu2c": 10, "ff": 50, "dsp": 2, "ebr": 1,
            "lutram": 0, "fmax_mhz": fmax, "comb": 150, "ice40": {"sb_lut4": 120, "sb_dff": 50},
            "yosys_generic_cells": 999, "device": {"ecp5": "LFE5U-85F speed 6 CABGA381"},
            "pnr_target_mhz": 400, "tools": {"yosys": "Yosys 0.70 (git sha1 x)",
                                              "nextpnr_ecp5": "nextpnr-ecp5 (Version nextpnr-0.11.1)"}}


def _reports(tmp_path, **files):
    folder = tmp_path / "reports"
    folder.mkdir(exist_ok=True)
    for name, content in files.items():
        (folder / f"{name}.json").write_text(json.dumps(content))
    return folder


def test_replace_section_only_marked():
    text = report.replace_section(README, "topk_cycles", "new cycles")
    assert "new cycles" in text and "old cycles" not in text
    assert text.replace("new cycles", "old cycles") == README


def test_replace_section_wrong():
    with pytest.raises(ValueError, match="section 'nope' needs <!-- BEGIN report:nope -->"):
        report.replace_section(README, "nope", "x")


def test_render_synth_and_leave_missing(tmp_path):
    timed = _synth_report("topk", "paper", 150.25)
    timed["timing"] = {"endpoints": 900, "endpoints_over_target": 42}
    timed.update(fmax_ceiling_mhz=143, fmax_ceiling_primitive="dsp", fmax_target_met=True)
    folder = _reports(tmp_path, synth_topk_paper=timed,
                      synth_topk_ulx3s=_synth_report("topk", "ulx3s", None),
                      synth_alpha_tiny=_synth_report("alpha", "tiny", 99.0))
    notes = []
    text, done = report.render_text(README, folder, log=notes.append)
    assert done == ["synth"]
    assert "old synth" not in text and "old cycles" in text and "keep me" in text
    assert text.startswith("# title\nintro\n") and text.endswith("tail\n")
    rows = [line for line in text.splitlines() if line.startswith("| alpha") or line.startswith("| topk")]
    assert [row.split(" | ")[:2] for row in rows] == [["| alpha", "tiny"], ["| topk", "ulx3s"],
                                                      ["| topk", "paper"]]
    assert "| 150.2 | 143 (multiplier) | yes | – | 42 / 900 |" in rows[2] \
        or "| 150.3 | 143 (multiplier) | yes | – | 42 / 900 |" in rows[2]
    assert "| – | – | – | – |" in rows[1]
    assert any("topk_cycles" in note and "no report" in note for note in notes)
    again, _ = report.render_text(text, folder, log=notes.append)
    assert again == text  # deterministic and idempotent


def test_fmax_ceiling():
    # The slowest primitive the block uses sets its ceiling.
    assert synth.fmax_ceiling({"dsp": 2, "ebr": 1, "lut4": 9}) == ("ebr", 136)
    assert synth.fmax_ceiling({"dsp": 1, "ebr": 0}) == ("dsp", 143)
    assert synth.fmax_ceiling({"lut4": 9, "lutram": 4}) == ("fabric", 200)


def test_render_delegates_to_owner(monkeypatch, tmp_path):
    folder = _reports(tmp_path, topk_cycles={"rows": [1, 2]}, golden_accuracy={"x": 3})
    bench = types.ModuleType("gen.bench")
    bench.render = lambda r: f"cycles {r['rows']}"
    golden = types.ModuleType("gen.golden_report")
    golden.render = lambda r: f"accuracy {r['x']}"
    monkeypatch.setitem(sys.modules, "gen.bench", bench)
    monkeypatch.setitem(sys.modules, "gen.golden_report", golden)
    text, done = report.render_text(README, folder, log=lambda note: None)
    assert done == ["topk_cycles", "golden_accuracy"]
    assert "\ncycles [1, 2]\n" in text and "\naccuracy 3\n" in text and "old synth" in text


def test_render_missing_module_leaves_section(monkeypatch, tmp_path):
    folder = _reports(tmp_path, golden_accuracy={"x": 3})
    monkeypatch.setitem(sys.modules, "gen.golden_report", None)  # import fails
    notes = []
    text, done = report.render_text(README, folder, log=notes.append)
    assert done == [] and text == README
    assert any("gen.golden_report is not available" in note for note in notes)


def test_readme_has_sections():
    names = report.section_names((ROOT / "README.md").read_text())
    for name in ("presets", "synth", "topk_cycles", "golden_accuracy", "golden_traffic", "eval_quality"):
        assert name in names


def test_report_command(capsys, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README.replace("synth", "presets"))
    assert main(["report", "--readme", str(readme), "--out", str(tmp_path)]) == 0
    assert "| ulx3s | 64 | 512 | 64 / 64 |" in readme.read_text()
    assert "section topk_cycles left as it is" in capsys.readouterr().out


def test_critical_path_in_block():
    def path(start, end):
        return {"critical_paths": [{"path": [
            {"from": {"cell": start}, "to": {"cell": "lut"}, "type": "logic"},
            {"from": {"cell": "lut"}, "to": {"cell": end}, "type": "routing"}]}]}

    assert synth._critical_path(path("chain_FF", "dut.acc_FF")) == {
        "from": "chain_FF", "to": "dut.acc_FF", "in_block": True, "logic_levels": 1}
    assert synth._critical_path(path("chain_FF", "level_FF"))["in_block"] is False
    assert synth._critical_path({}) == {}


def test_render_readme_publishes_figures(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "plot_a.png").write_bytes(b"\x89PNG one")
    readme = tmp_path / "README.md"
    readme.write_text("no sections\n")
    notes = []
    report.render_readme(readme, reports, log=notes.append)
    figure = tmp_path / "docs" / "figures" / "plot_a.png"
    assert figure.read_bytes() == b"\x89PNG one"
    notes.clear()
    report.render_readme(readme, reports, log=notes.append)
    assert not any("figure" in note for note in notes), "an unchanged figure is not copied again"
