"""gen.bench_fetcher: the README table, the workload byte count, the command line."""

import pytest

from gen import bench_fetcher


def _report():
    point = {"density": 0.25, "latency": 50, "cycles": 1000, "bytes": 7200, "rows": 112,
             "stall_cycles": 60, "bytes_per_cycle": 7.2, "peak_bytes_per_cycle": 8, "peak_fraction": 0.9}
    return {"block": "fetcher", "preset": "ulx3s", "data_bits": 64, "outstanding": 16, "row_bytes": 64,
            "rows": 512, "lists_per_point": 4, "seed": 7, "points": [dict(point, density=1.0), point],
            "workload": None}


def test_render_table():
    text = bench_fetcher.render(_report())
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| index")]
    assert rows[1] == "| dense | 50 | 112 | 1000 | 7.20 | 8 | 0.900 |"
    assert rows[2] == "| 25% random | 50 | 112 | 1000 | 7.20 | 8 | 0.900 |"
    assert "seed 7" in text and "64-bit" in text


def test_workload_savings(tmp_path):
    path = tmp_path / "w.csv"
    header = ("iteration_id,layer_id,head_id,embedding_length_D,sentence_length_L,key_fetch_num,"
              "quant_key_bit,quant_query_bit,auto_requant_thres,if_requant,auto_requant_incre,"
              "value_fetch_num,quant_value_bit\n")
    path.write_text(header + "0,0,0,64.0,100,50,6,16,0.05,True,4,20,8,\n"
                    "0,0,1,64.0,100,100,-1,-1,-1,False,-1,100,-1\nconfigs/x.yml,,,,,,,,,,,,\n")
    got = bench_fetcher.workload_savings(path)
    # head 0: K 50 x 48 + LSB 50 x 32, V 20 x 64 + LSB 20 x 32; head 1: dense 16-bit, 128-byte rows
    assert got["bytes_fetched"] == 50 * 48 + 50 * 32 + 20 * 64 + 20 * 32 + 200 * 128
    assert got["bytes_dense_16bit"] == 2 * 2 * 100 * 128


@pytest.mark.parametrize("argv, message", [
    (["--lists", "0"], "--lists must be in 1..64, not 0"),
    (["--preset", "big"], "--preset: preset must be one of"),
])
def test_bench_fetcher_wrong(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench_fetcher.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
