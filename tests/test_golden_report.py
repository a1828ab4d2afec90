"""gen.golden_report: a quick run writes both reports and renders them."""

import json

import pytest

from gen import golden_report


def test_quick_reports_written_and_rendered(tmp_path):
    missing = tmp_path / "no_trace.csv"
    assert golden_report.main(["--quick", "--out", str(tmp_path), "--workload", str(missing)]) == 0
    acc = json.loads((tmp_path / "reports" / "golden_accuracy.json").read_text())
    tra = json.loads((tmp_path / "reports" / "golden_traffic.json").read_text())
    soft = acc["softmax"]
    assert max(r["max_abs"] for r in soft["random_rows"]) <= 2.5e-4
    assert all(r["above_one"] == 0 for r in soft["random_rows"])
    assert acc["datasets"]["random"]["output_vs_float_attention"]["max_rel_to_max"] < 0.01
    v = {name: parts["total"] for name, parts in tra["variants"].items()}
    assert v["spatten"]["dram_bytes_total"] < v["pruning_only"]["dram_bytes_total"]
    assert v["spatten"]["dram_reduction_x"] > 1.5 and tra["trace"] is None
    parts = tra["variants"]["spatten"]
    assert parts["prompt"]["rows"] + parts["generation"]["rows"] == parts["total"]["rows"]
    text = golden_report.render(acc) + golden_report.render(tra)
    assert "| softmax (vs same scores) |" in text and "| spatten |" in text


def test_render_wrong():
    with pytest.raises(ValueError, match="report kind must be 'accuracy' or 'traffic'"):
        golden_report.render({"kind": "synth"})
