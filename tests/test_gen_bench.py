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


def test_render_rows_table():
    from gen import bench_topk_rows

    row = {"preset": "paper", "n": 1024, "k": 128, "parallelism": 16, "engines": 3, "requests": 24,
           "row_cycles": 90.5, "qk_row_cycles": 128, "row_time_ratio": 90.5 / 128, "model_row_cycles": 90.5,
           "model_exact": True, "one_engine_row_cycles": 250.0, "one_engine_row_time_ratio": 250 / 128,
           "release_cycles_mean": 219.4, "one_pass_cycles": 64}
    report = {"seed": 3, "score_bits": 16, "requests_per_point": 24,
              "points": [row, dict(row, preset="ulx3s", engines=1, parallelism=4, n=512, k=64,
                                   qk_row_cycles=512)]}
    rows = [line for line in bench_topk_rows.render(report).splitlines() if line.startswith("| ") and
            line[2].isalpha() and not line.startswith("| preset")]
    assert rows[0].startswith("| ulx3s | 1 x 4 | 512 | 64 |")
    assert rows[1] == "| paper | 3 x 16 | 1024 | 128 | 90.5 | 128 | 0.71 | yes | 250.0 (1.95) | 219.4 | 64 |"
    assert bench_topk_rows.row_time(bench_topk_rows.preset_config("paper")) == 128
