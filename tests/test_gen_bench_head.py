"""gen.bench_head: the report from the jobs' counters, the README table, the command line."""

import json

import pytest

from gen import bench_head
from gen.config import preset


def _job():
    return {"label": "generation", "lk": 64, "lq": 1, "alive": 64, "cycles": 1000, "cycles_floor": 500,
            "cycles_fetch": 400, "cycles_score": 300, "cycles_select": 100, "cycles_pv": 50,
            "dram_bytes_k_msb": 4096, "dram_bytes_k_lsb": 0, "dram_bytes_v_msb": 4096, "dram_bytes_v_lsb": 0,
            "dram_bytes_q": 96, "macs_qk": 4096, "macs_pv": 4096, "rows_refetched": 0}


def test_report_and_table(monkeypatch, tmp_path):
    monkeypatch.setattr(bench_head, "measure", lambda config, seed, out, latency: [_job()])
    assert bench_head.main(["--out", str(tmp_path), "--latency", "7"]) == 0
    report = json.loads((tmp_path / "reports" / "head_cycles.json").read_text())
    point = report["points"][0]
    mults = preset("ulx3s").qk_multipliers + preset("ulx3s").pv_multipliers
    assert point["floor_ratio"] == 2.0 and point["dram_bytes"] == 4096 * 2 + 96
    assert point["mult_utilization"] == round(8192 / (1000 * mults), 4)
    assert point["cycles_fetch_fraction"] == 0.4 and report["latency_cycles"] == 7
    text = bench_head.render(report)
    assert "| generation | 1 | 64 | 1000 | 500 | 2.0 | 0.4 | 0.3 | 0.1 | 0.05 | 8288 |" in text


@pytest.mark.parametrize("argv, message", [
    (["--latency", "0"], "--latency must be in 1..500, not 0"),
    (["--preset", "big"], "preset must be one of"),
])
def test_arguments_wrong(argv, message, capsys):
    with pytest.raises(SystemExit):
        bench_head.main(argv)
    assert message in capsys.readouterr().err
