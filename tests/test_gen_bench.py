"""gen.bench: the README table and its command line (the measurement itself is `make bench`)."""

import pytest

from gen import bench


def _report():
    row = {"n": 64, "k": 8, "parallelism": 4, "requests": 2, "cycles_mean": 64.0, "cycles_min": 60,
           "cycles_max": 68, "model_cycles_mean": 64.0, "model_exact": True, "select_cycles_mean": 42.5,
           "release_cycles_mean": 62.5, "one_pass_cycles": 16, "ratio_vs_release_x": 64 / 62.5,
           "select_ratio_vs_release_x": 42.5 / 62.5,
           "ratio_vs_one_pass_x": 4.0}
    return {"block": "topk", "simulator": "verilator", "n_max": 1024, "score_bits": 16, "seed": 7,
            "requests_per_point": 2, "points": [dict(row, parallelism=16), row], "model_exact": True}


def test_render_table():
    text = bench.render(_report())
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert rows[0] == "| 4 | 64 | 8 | 64.0 | 42.5 | 62.5 | 16 | 1.02 | 0.68 | 4.00 | yes |"
    assert rows[1].startswith("| 16 | 64 | 8 |")
    assert "seed 7" in text and "n_max=1024" in text


@pytest.mark.parametrize("argv, message", [
    (["--requests", "0"], "--requests must be in 1..1000, not 0"),
    (["--parallelism", "3"], "--parallelism values must be powers of two in 2..64, not 3"),
    (["--parallelism", "four"], "--parallelism must be comma-separated integers, not 'four'"),
])
def test_bench_wrong(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
