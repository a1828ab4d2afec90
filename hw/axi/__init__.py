"""Generic AXI pieces of the core: the AXI4-Lite register slave, the AXI4 write master, the read
arbiter."""
