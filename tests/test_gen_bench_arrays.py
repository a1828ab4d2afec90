"""gen.bench_arrays: the README tables, the workload model and its command line (the
measurement itself is `make bench`)."""

import sys
import types

import pytest

from gen import bench_arrays
from gen.cli import main


def _point(**extra):
    row = {"unit": "qk", "preset": "ulx3s", "label": "one head alone", "requests": 1, "n": 1024, "d": 64,
           "multipliers": 64, "per_cycle": 1, "latency_cycles": 26, "busy_macs": 65536,
           "active_cycles": 1051, "span_cycles": 1050, "model_span_cycles": 1050, "model_exact": True,
           "utilization": 65536 / (1051 * 64)}
    return {**row, **extra}


def test_render_tables():
    phases = {"generation": {"heads": 2, "qk_beats": 10, "pv_beats": 4, "qk_gap_cycles": 1,
                             "qk_cycles_per_head": 18.0, "pv_cycles_per_head": 7.5}}
    report = {"seed": 5, "points": [_point()], "model_exact": True,
              "workloads": [{"workload": "small", "preset": "ulx3s", "phases": phases}]}
    text = bench_arrays.render(report)
    assert "| qk | ulx3s | 64 | 1 | one head alone | 26 | 1050 | yes | 0.9743 |" in text
    assert "| small | ulx3s | generation | 2 | 18.0 | 7.5 | 1 |" in text
    assert "seed 5" in text


def test_workload_cycles(tmp_path):
    trace = tmp_path / "w.csv"
    trace.write_text("iteration_id,sentence_length_L,key_fetch_num,value_fetch_num\n"
                     "0,10,10,4\n1,11,9,3\n1,11,40,3\n1,11,9,3\nconfigs/x.yml,,,\n")
    phases = bench_arrays.workload_cycles(trace, 1, 2, 3, 5, 6)
    summ, gen = phases["summarisation"], phases["generation"]
    assert summ["heads"] == 1 and summ["qk_beats"] == 10 * 10 and summ["pv_beats"] == 10 * 2
    assert summ["qk_cycles_per_head"] == 100 + 3 and summ["qk_gap_cycles"] == 0
    assert gen["heads"] == 3 and gen["qk_beats"] == 9 + 40 + 9 and gen["qk_gap_cycles"] == 0
    assert gen["pv_cycles_per_head"] == (2 + 2 + 2 + 5) / 3
    # Lanes of 8: one-beat-short heads leave gaps where a bank is still held.
    gaps = bench_arrays.workload_cycles(trace, 8, 2, 3, 5, 6)["generation"]
    assert gaps["qk_beats"] == 2 + 5 + 2 and gaps["qk_gap_cycles"] == 0
    short = bench_arrays.workload_cycles(trace, 40, 2, 3, 5, 6)["generation"]
    assert short["qk_beats"] == 3 and short["qk_gap_cycles"] == 4


def test_stream_starts():
    from golden.array_cycles import stream_cycles, stream_starts

    assert stream_starts([3, 1, 1, 1], turnaround=6) == [0, 3, 8, 9]
    assert stream_starts([3, 1, 1, 1]) == [0, 3, 4, 5]
    assert stream_cycles([2, 2], latency=4) == 4 + 4
    with pytest.raises(ValueError, match="beats must be >= 1"):
        stream_starts([1, 0])


def test_bench_arrays_wrong(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench_arrays.main(["--presets", "nope"])
    assert exit_info.value.code == 2
    assert "--presets values must be among" in capsys.readouterr().err


def test_cli_delegates_bench_arrays(monkeypatch):
    seen = []
    fake = types.ModuleType("gen.bench_arrays")
    fake.main = lambda argv: seen.append(argv) or 3
    monkeypatch.setitem(sys.modules, "gen.bench_arrays", fake)
    assert main(["bench", "arrays", "--presets", "paper"]) == 3
    assert seen == [["--presets", "paper"]]
