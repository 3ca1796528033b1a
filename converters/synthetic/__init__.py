"""Writers of synthetic Lua Torch7 checkpoints, shaped like the ones the original Lua code saved.

Used by the demo, the tests and the benchmarks wherever a real-sized or
specially shaped checkpoint is needed without downloading one:
:func:`converters.synthetic.densenet.densenet_checkpoint` builds a
liuzhuang13/DenseNet tree, :func:`converters.synthetic.resnet.resnet_checkpoint`
an fb.resnet.torch ResNet, :func:`converters.synthetic.style_transfer.style_transfer_checkpoint`
a fast-neural-style checkpoint and :func:`converters.synthetic.openface.openface_checkpoint`
OpenFace's nn4.small2 (their shared parts are in ``lua_tree``); save them with
``converters.t7.save``.
"""
