"""torch.hub entry points: ``torch.hub.load("<owner>/densenet-zoo", "densenet264")``.

One entry point per published model; each returns the model with its
pretrained weights (downloaded, verified and converted once, then cached) in
eval mode, or a freshly initialised one with ``pretrained=False``. Keyword
arguments override config fields, e.g. ``num_classes=10`` for fine-tuning.
"""

dependencies = ["torch", "numpy", "requests", "safetensors", "torchfile"]


def _entrypoint(name):
    def entrypoint(pretrained=True, **overrides):
        from zoo import create_model

        return create_model(name, pretrained=pretrained, **overrides)  # pretrained models come in eval mode

    entrypoint.__name__ = name
    entrypoint.__doc__ = f"{name}: the published Lua Torch7 model in PyTorch (pretrained=True by default)."
    return entrypoint


densenet121 = _entrypoint("densenet121")
densenet169 = _entrypoint("densenet169")
densenet201 = _entrypoint("densenet201")
densenet161 = _entrypoint("densenet161")
densenet264 = _entrypoint("densenet264")
densenet232 = _entrypoint("densenet232")
densenet264_cosine = _entrypoint("densenet264_cosine")
densenet264_k48_cosine = _entrypoint("densenet264_k48_cosine")
