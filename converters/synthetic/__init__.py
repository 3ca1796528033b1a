"""Writers of synthetic Lua Torch7 checkpoints, shaped like the ones the original Lua code saved.

Used by the demo, the tests and the benchmarks wherever a real-sized or
specially shaped checkpoint is needed without downloading one:
:func:`converters.synthetic.densenet.densenet_checkpoint` builds a
liuzhuang13/DenseNet tree; save it with ``converters.t7.save``.
"""
