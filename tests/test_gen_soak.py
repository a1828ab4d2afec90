"""gen/soak.py: a soak of some blocks replaces their rows in the report already there, and renders."""

import json

from gen import soak


def _block(name, checked, seeds, target=2_000, chunk=1_000):
    return {"block": name, "target": target, "chunk": chunk, "requests_checked": checked, "runs": len(seeds),
            "seeds": seeds, "mismatches": 0, "failures": [], "seconds": 12.0}


def test_merge_replaces_the_rows_it_ran_and_keeps_the_others():
    previous = {"config": "tiny", "blocks": [_block("qk", 2_220, [2021, 2022]), _block("core", 40, [2021])]}
    report = {"config": "tiny", "blocks": [_block("core", 1_179, list(range(2021, 2027)), 1_000, 40)]}
    merged = soak.merge(previous, report)
    assert [(b["block"], b["requests_checked"]) for b in merged["blocks"]] == [("core", 1_179), ("qk", 2_220)]
    assert previous["blocks"][1]["requests_checked"] == 40          # the inputs are left alone


def test_merge_ignores_another_configuration():
    previous = {"config": "ulx3s", "blocks": [_block("qk", 2_220, [2021])]}
    report = {"config": "tiny", "blocks": [_block("core", 40, [2021])]}
    assert soak.merge(previous, report) is report
    assert soak.merge(None, report) is report


def test_render_has_a_row_per_block_with_target_chunk_and_seeds():
    core = {**_block("core", 1_179, list(range(2021, 2027))), "target": None}
    report = {"config": "tiny", "blocks": [_block("axi_write", 2_000, [2021, 2022]), core]}
    lines = soak.render(report).splitlines()
    assert "| axi_write | 2,000 | 1,000 | 2,000 | 2 | 2021..2022 | 0 | 12 |" in lines
    assert "| core | – | 1,000 | 1,179 | 6 | 2021..2026 | 0 | 12 |" in lines


def test_main_merges_into_the_report_on_disk(tmp_path, monkeypatch):
    reports = tmp_path / "reports"
    reports.mkdir()
    previous = {"config": "tiny", "blocks": [_block("qk", 2_220, [2021])]}
    (reports / "soak.json").write_text(json.dumps(previous))

    def fake_soak(name, config, *, requests, chunk, seed, out):
        return _block(name, requests, [seed], requests, chunk)

    monkeypatch.setattr(soak, "soak_block", fake_soak)
    args = ["--out", str(tmp_path), "--blocks", "axil_regs"]
    assert soak.main([*args, "--requests", "50", "--chunk", "25"]) == 0
    got = json.loads((reports / "soak.json").read_text())
    assert [(b["block"], b["requests_checked"], b["chunk"]) for b in got["blocks"]] == [
        ("axil_regs", 50, 25), ("qk", 2_220, 1_000)]
    assert soak.main([*args, "--requests", "5", "--fresh"]) == 0
    got = json.loads((reports / "soak.json").read_text())
    assert [b["block"] for b in got["blocks"]] == ["axil_regs"]
