"""The generator never emits broken hardware (gen/fuzz.py, gen/lint.py, gen/smoke.py): a fixed-seed slice.

``make fuzz`` (``python -m gen fuzz``) runs the long version; here: many draws of
configurations checked for their refusal messages, a few small accepted ones
emitted for every registered block and checked by Verilator's lint and Yosys'
``check -assert``, and one block's smoke request on Verilator. The checkers
themselves are shown to fail on broken Verilog.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed

from gen import fuzz
from gen.blocks import BLOCKS
from gen.config import preset
from gen.lint import LINT_WAIVERS, LintFailed, verilator_lint, yosys_check
from gen.smoke import SMOKES, missing_smokes

SEED = 21


def test_every_block_has_a_smoke_request():
    assert missing_smokes() == []
    assert set(SMOKES) == set(BLOCKS)


def test_lint_waivers_documented():
    text = (fuzz.Path(__file__).resolve().parent.parent / "docs" / "lint.md").read_text()
    for code in LINT_WAIVERS:
        assert f"`{code}`" in text, code
    assert len(LINT_WAIVERS) <= 10


_BAD = {
    # A combinational loop, through two assigns.
    "loop": "module loop(input a, output y); wire b; assign b = y ^ a; assign y = b; endmodule\n",
    # One net driven twice.
    "multi": "module multi(input a, input b, output y); assign y = a; assign y = b; endmodule\n",
    # An output nobody drives.
    "undriven": "module undriven(input a, output y, output z); assign y = a; endmodule\n",
}


@pytest.mark.parametrize("top", sorted(_BAD))
def test_checkers_reject_broken_verilog(tmp_path, top):
    path = tmp_path / f"{top}.v"
    path.write_text(_BAD[top])
    with pytest.raises(LintFailed):
        verilator_lint(path, top)
    with pytest.raises(LintFailed, match="check -assert"):
        yosys_check(path, top)


def test_lint_accepts_waived_warnings_only(tmp_path):
    path = tmp_path / "fine.v"
    path.write_text("module fine(input clk, input [3:0] a, output reg [3:0] y = 4'h0);\n"
                    "  wire [7:0] unused = {a, a};\n  always @(posedge clk) y <= a;\nendmodule\n")
    codes = verilator_lint(path, "fine")
    assert set(codes) <= set(LINT_WAIVERS) and codes
    yosys_check(path, "fine")


@hypothesis_seed(SEED)
@settings(max_examples=60, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(fuzz.draws())
def test_refusals_name_the_key(tmp_path_factory, d):
    """Every draw is refused with a message naming a key it set and what is allowed, or accepted."""
    workdir = tmp_path_factory.mktemp("draw")
    try:
        fuzz.config_of(d, workdir)
    except fuzz.ConfigError as error:
        assert fuzz._names_a_key(str(error), d), (d, str(error))


def test_to_toml_round_trip(tmp_path):
    d = fuzz.Draw("toml", "tiny", {"name": 'a"b\\c\x01', "requant_threshold": float("nan"), "head_dim": 8})
    path = tmp_path / "x.toml"
    path.write_text(fuzz.to_toml(d.base, d.overrides))
    with pytest.raises(fuzz.ConfigError, match="name must be"):
        fuzz.config_of(d, tmp_path)


def test_fuzz_slice(tmp_path):
    """Small accepted configurations: every block emitted, linted, checked; one smoke on Verilator."""
    report = fuzz.run(draws_count=1, seed=SEED, out=tmp_path, smoke_every=0,
                      strategy=fuzz.small_draws(cheap=True))
    print(json.dumps({k: v for k, v in report.items() if k != "records"}, indent=1))
    assert report["failures"] == [], json.dumps(report["failures"], indent=1)
    assert report["configs_built"] >= 1
    built = [r for r in report["records"] if r["outcome"] == "built"]
    assert all(len(r["blocks"]) == len(BLOCKS) for r in built)
    results, failures = fuzz.check_config(preset("tiny"), tmp_path / "smoke", smoke_requests=12, seed=SEED,
                                          blocks=["topk_packer"])
    assert failures == [] and results[0]["smoke"]["checked"] >= 12
