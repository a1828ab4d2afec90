"""The board around the core: the UART host link (and, with the core, the ULX3S top)."""
