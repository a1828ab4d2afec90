"""Smoke and soak requests of every registered block, on the block's own cocotb testbench.

:data:`SMOKES` maps each name of :data:`gen.blocks.BLOCKS` to a function
``(config, component) -> Smoke``: which testbench of ``sim/`` drives the
block the registry builds from ``config``, with which parameters, and which
of its cocotb tests are the randomized ones (random bubbles on every input,
backpressure on every output, memory stalls for the fetcher). A block added
to the registry adds its entry here (``tests/test_fuzz.py`` checks that every
block has one).

:func:`run_smoke` emits the registry's component, runs those tests on
Verilator with a given number of requests and returns how many the
testbench checked bit-exact against golden (it raises
:class:`sim.runner.SimulationFailed` on a mismatch). ``gen.fuzz`` runs it
with a few requests on sampled configurations, ``gen.soak`` with many.
"""

from dataclasses import dataclass

from .blocks import BLOCKS, build_block

__all__ = ["Smoke", "SMOKES", "SOAK_TARGETS", "run_smoke", "missing_smokes"]


@dataclass(frozen=True)
class Smoke:
    """How a block's testbench is run: module, parameters, the key of the request count, tests."""
    test_module: str
    parameters: dict
    count_key: str
    testcases: tuple
    checked_file: str = "requests_checked.txt"
    #: ``(config, component) -> top``: the design the testbench drives around the registry's
    #: component (None: the component itself).
    wrapper: object = None


# The randomized cocotb tests of each testbench (each runs its pause settings).
_TOPK_TESTS = ("random_pauses",)
_ARRAY_TESTS = ("random_pauses",)


def _topk_smoke(config, engine):
    params = {"n_max": engine.n_max, "parallelism": engine.lanes, "score_bits": engine.score_bits,
              "signed": engine.signed}
    parameters = {"engine": params}
    if hasattr(engine, "engines"):
        parameters["engine"] = {"engines": engine.engines, **params}
        parameters["engine_class"] = "hw.topk:TopKInterleave"
    return Smoke("sim.topk", parameters, "requests", _TOPK_TESTS)


def _softmax_smoke(config, unit):
    params = {"lanes": unit.lanes, "n_max": unit.n_max, "index_bits": unit.index_bits}
    return Smoke("sim.softmax", {"unit": params}, "rows", ("random_pauses",), "rows_checked.txt")


def _array_smoke(module):
    def smoke(config, unit):
        params = {"head_dim": unit.head_dim, "max_context": unit.max_context, "value_bits": unit.value_bits,
                  "multipliers": unit.multipliers}
        return Smoke(module, {"unit": params}, "requests", _ARRAY_TESTS)
    return smoke


def _fetcher_smoke(config, fetcher):
    params = {"head_dim": fetcher.head_dim, "msb_bits": fetcher.msb_bits, "lsb_bits": fetcher.lsb_bits,
              "max_context": fetcher.max_context, "data_bits": fetcher.data_bits,
              "addr_bits": fetcher.addr_bits, "id_bits": config.axi_id_bits,
              "outstanding": fetcher.outstanding, "threshold_code": fetcher.threshold_code}
    # Regions of at most 40 rows (a request's row count fits the fetcher's count field).
    return Smoke("sim.fetcher", {"fetcher": params, "rows": min(40, fetcher.max_context)}, "requests",
                 ("random_streams",))


def _config_smoke(module, count_key, testcases, checked_file="requests_checked.txt", **extra):
    """A testbench that rebuilds what it checks from the configuration's fields (``sim.runner.config``)."""
    def smoke(config, component):
        return Smoke(module, {"config": config.to_dict(), **extra}, count_key, testcases, checked_file)
    return smoke


def _pipeline_smoke(block):
    # sim.pipelines rebuilds the block from the registry and the configuration's fields.
    return _config_smoke("sim.pipelines", "beats", ("random_beats",), block=block)


def _uart_bridge_smoke(config, bridge):
    # Serial bits are slow to simulate: short requests.
    return Smoke("sim.uart_bridge", {"clocks_per_bit": bridge.clocks_per_bit, "max_words": 4}, "requests",
                 ("random_requests",))


def _control_plane_smoke(config, control):
    # The control plane inside sim.fake_core.FakeCore (a datapath that copies one row per command),
    # driven by the host driver.
    from sim.fake_core import FakeCore
    return Smoke("sim.driver_e2e", {"config": config.to_dict()}, "lists", ("random_lists",),
                 wrapper=FakeCore)


def _axi_write_smoke(config, master):
    from hw.core.control import write_master_args
    return Smoke("sim.axi_write", {"master": write_master_args(config)}, "rows", ("random_rows",))


def _axi_read_arbiter_smoke(config, arbiter):
    from hw.core.control import read_arbiter_args
    # Reads per master: every master issues that many.
    return Smoke("sim.axi_read_arbiter", {"arbiter": read_arbiter_args(config)}, "reads",
                 ("random_traffic",))


SMOKES = {
    "topk": _topk_smoke, "topk_token": _topk_smoke, "topk_head": _topk_smoke,
    "topk_rank": _pipeline_smoke("topk_rank"), "topk_packer": _pipeline_smoke("topk_packer"),
    "softmax": _softmax_smoke, "qk": _array_smoke("sim.qk"), "pv": _array_smoke("sim.pv"),
    "fetcher": _fetcher_smoke, "uart_bridge": _uart_bridge_smoke,
    "head": _config_smoke("sim.core_head", "jobs", ("random_stream",), "jobs_checked.txt"),
    # The core's requests are random sequences of 1-3 layers; it counts the layer commands checked.
    "core": _config_smoke("sim.core_e2e", "sequences", ("summarize_sequences", "generate_steps"),
                          "layers_checked.txt", real=[]),
    "axil_regs": _config_smoke("sim.axil_regs", "rounds", ("random_accesses",)),
    "command_reader": _config_smoke("sim.command_reader", "commands", ("good_commands", "bad_commands")),
    "axi_write": _axi_write_smoke, "axi_read_arbiter": _axi_read_arbiter_smoke,
    "sequence_state": _config_smoke("sim.sequence_state", "commands", ("random_sequences",)),
    "control_plane": _control_plane_smoke,
}


#: ``make soak``'s target and chunk for blocks whose requests are bigger than a beat or a row: the
#: core checks layer commands (each a few hundred head rows), 1,000 of them.
SOAK_TARGETS = {"core": (1_000, 40)}


def missing_smokes():
    """Registered blocks without a smoke request."""
    return sorted(set(BLOCKS) - set(SMOKES))


def run_smoke(name, config, *, requests, seed=None, build_root=None, run_name=None, component=None):
    """Run block ``name`` of ``config`` on its testbench with ``requests`` requests (Verilator).

    Returns ``{"block", "checked", "seed", "build_dir"}``; ``checked`` counts what the
    testbench compared against golden (requests, rows or beats). Raises
    :class:`sim.runner.SimulationFailed` on a mismatch.
    """
    from sim import runner

    component = build_block(name, config) if component is None else component
    smoke = SMOKES[name](config, component)
    parameters = {**smoke.parameters, smoke.count_key: requests}
    # The tests and every parametrization of them (cocotb names those "test/param=value").
    tests = "|".join(smoke.testcases)
    top = component if smoke.wrapper is None else smoke.wrapper(config, component)
    result = runner.run(top, test_module=smoke.test_module, sim="verilator", toplevel=name,
                        name=run_name or f"smoke-{name}-{config.name}", parameters=parameters, seed=seed,
                        extra_env={"COCOTB_TEST_FILTER": rf"\.({tests})($|[^A-Za-z0-9_])",
                                   # The AXI model logs every burst at INFO: thousands of lines a run.
                                   "COCOTB_LOG_LEVEL": "WARNING"},
                        build_root=build_root)
    lines = (result["build_dir"] / smoke.checked_file).read_text().splitlines()
    checked = sum(int(line.split()[-1]) for line in lines)
    return {"block": name, "checked": checked, "seed": result["seed"], "build_dir": str(result["build_dir"])}
