"""Systolic arrays of the Q x K and prob x V units.

The Gemmini split: a processing element (:mod:`.pe`), a tile of them that is
combinational inside (:mod:`.tile`), and a mesh of tiles with registers at the
tile boundaries (:mod:`.mesh`). :mod:`.qk` and :mod:`.pv` build the two units
on it.
"""
