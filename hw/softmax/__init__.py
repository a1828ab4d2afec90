"""The fixed-point softmax unit (issue 15): ``golden/softmax.py`` in RTL, bit for bit.

:class:`hw.softmax.softmax.Softmax` is the block; the other modules are its
stages and datapath units, one concern each.
"""
