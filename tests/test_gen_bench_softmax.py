"""gen.bench_softmax: the README table, its command line and the `bench softmax` hook of gen.cli."""

import sys
import types

import pytest

from gen import bench_softmax
from gen.cli import main


def _point(point, **extra):
    return {"shape": "ulx3s", "lanes": 2, "n_max": 512, "point": point, "rows": 10, "elements": 2000,
            "cycles": 1010, "elements_per_cycle": 2000 / 1010, "lane_utilization": 1000 / 1010,
            "cycles_per_row": 100.0, "row_length_mean": 200.0, "steady_lane_utilization": 1.0,
            "latency_cycles": 250,
            "latency_model_cycles": 250, **extra}


def test_render_table():
    report = {"seed": 5, "points": [_point("mixed"), _point("fixed_1", cycles_per_row=None)]}
    rows = [line for line in bench_softmax.render(report).splitlines() if line.startswith("| ulx3s")]
    assert rows[0] == "| ulx3s | 2 | 512 | 10 | 64..512 | 1.980 | 0.990 | 1.000 | 100.00 | 250 | 250 |"
    assert rows[1].split(" | ")[4:9] == ["1", "1.980", "0.990", "1.000", "–"]


def test_bench_softmax_wrong(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench_softmax.main(["--rows", "5"])
    assert exit_info.value.code == 2
    assert "--rows must be in 10..100000, not 5" in capsys.readouterr().err


def test_cli_delegates_bench_softmax(monkeypatch):
    seen = []
    fake = types.ModuleType("gen.bench_softmax")
    fake.main = lambda argv: seen.append(argv) or 3
    monkeypatch.setitem(sys.modules, "gen.bench_softmax", fake)
    assert main(["bench", "softmax", "--rows", "10"]) == 3
    assert seen == [["--rows", "10"]]
