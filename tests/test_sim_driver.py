"""The host driver end to end over cocotb (sim/driver_e2e.py on sim/fake_core.py)."""

import pytest

from gen.config import preset
from sim import runner
from sim.fake_core import FakeCore

RUNS = [("icarus", "tiny")]
COCOTB_TESTS = 5
LISTS = 16


@pytest.mark.parametrize("sim, config", RUNS, ids=[f"{s}-{c}" for s, c in RUNS])
def test_driver_end_to_end(sim, config):
    result = runner.run(FakeCore(preset(config)), test_module="sim.driver_e2e", sim=sim,
                        parameters={"preset": config, "lists": LISTS})
    assert result["tests"] == COCOTB_TESTS
    checked = (result["build_dir"] / "requests_checked.txt").read_text().split()
    assert checked[0] == "random_lists" and int(checked[1]) >= LISTS
