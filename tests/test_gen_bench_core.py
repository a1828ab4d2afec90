"""gen.bench_core: the trace replay through the core model, its table and its command line."""

import json

import pytest

from gen import bench_core
from gen.cli import main

TRACE = ("iteration_id,layer_id,head_id,embedding_length_D,sentence_length_L,key_fetch_num,"
         "quant_key_bit,quant_query_bit,auto_requant_thres,if_requant,auto_requant_incre,"
         "value_fetch_num,quant_value_bit,if_accumulate_importance,if_rescale_previous_importance,"
         "if_topk,topk\n"
         "0,0,0,64.0,32,32,6,16,0.05,True,4,8,6,True,False,False,-1\n"
         "0,0,1,64.0,32,32,6,16,0.05,False,4,8,6,True,False,True,16\n"
         "1,0,0,64.0,33,16,6,16,0.05,True,4,4,6,True,False,False,-1\n"
         "1,0,1,64.0,33,16,6,16,0.05,False,4,4,6,True,False,False,-1\n"
         "configs/x.yml,,,,,,,,,,,,,,,,\n")


def test_trace_calls(tmp_path):
    from gen.config import preset

    path = tmp_path / "t.csv"
    path.write_text(TRACE)
    calls = bench_core.trace_calls(path, preset("ulx3s"), 0.25)
    (heads, cascade), = calls["summarize"]
    assert cascade == 32 and len(heads) == 2
    assert heads[0].rows == 32 and heads[0].keys_lsb == 32 and heads[0].recompute.sum() == 8
    assert heads[1].keys_lsb == 0 and heads[0].msb_bits == 6 and heads[0].lsb_bits == 4
    (gen_heads, gen_cascade), = calls["generate"]
    assert gen_cascade == 0 and [h.rows for h in gen_heads] == [1, 1]
    assert gen_heads[0].recompute.tolist() == [True] and gen_heads[0].dense_visible == 33


def test_bench_core_writes_report(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text(TRACE)
    assert main(["bench", "core", "--out", str(tmp_path), "--trace", str(path),
                 "--machines", "ulx3s,paper"]) == 0
    report = json.loads((tmp_path / "reports" / "core_model.json").read_text())
    ulx3s = report["machines"][0]
    assert ulx3s["machine"] == "ulx3s" and ulx3s["bytes_per_cycle"] == 8
    total = ulx3s["total"]
    assert total["calls"] == 2 and total["roofline_ratio"] >= 1.0
    assert total["macs_dense"] == ulx3s["summarize"]["macs_dense"] + ulx3s["generate"]["macs_dense"]
    assert "| ulx3s (128 mult, 8 B/cycle) | total |" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--machines", "vax"], "--machines must name machines"),
    (["--recompute-fraction", "2"], "--recompute-fraction must be in 0..1"),
    (["--trace", "/nonexistent.csv"], "--trace must be a readable file"),
])
def test_bench_core_wrong(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "core", "--out", str(tmp_path), *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
