"""Image data for evaluation and training: Torch7-faithful and torchvision preprocessing.

``zoo.data.torch7`` reproduces torch/image's ``image.scale`` and fb.resnet.torch's transforms,
``zoo.data.decode`` loads images as ``image.load(path, 3, 'float')`` does, and
:func:`transforms` builds a ready-to-use evaluation transform of either kind.
"""
