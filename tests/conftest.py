"""Test ordering: the long simulations first, so that pytest-xdist's workers do not end on them."""

# Modules whose tests build and run the largest simulations (Verilator builds of minutes each).
_LONG_FIRST = ("test_sim_core.py", "test_fuzz.py", "test_sim_core_head.py", "test_gen.py")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = item.path.name
        return _LONG_FIRST.index(name) if name in _LONG_FIRST else len(_LONG_FIRST)
    items.sort(key=rank)   # stable: the order within a module stays
