"""The model families the registry serves, and the published architectures of the non-DenseNet ones.

A manifest entry names its ``family`` and its ``architecture``. The family
says how the file loads: ``densenet`` entries become a :class:`zoo.DenseNet`
through the DenseNet converter and a cached ``.safetensors`` (as always); the
others are translated by :func:`converters.load_module` from the verified
``.t7`` itself, after its net (for fast-neural-style, the ``model`` field of
the checkpoint table that ``fast_neural_style.lua`` reads) has been checked
against the architecture's :class:`Fingerprint`.

A fingerprint is taken from the translated module before any weight is read:
the number of ``weight`` tensors, their elements, and the sha256 of their
shapes in module order. It ignores what the published files may differ in
without being another network: Lua backends (``cudnn.*`` or ``nn.*``),
parameter-free modules (``nn.View`` or ``nn.Reshape``) and convolution
biases (fb.resnet.torch dropped them only when trained with cuDNN >= 4).
The fingerprints below were taken from ``converters.synthetic``'s builds of
the published definitions (the tests rebuild them); no published file was
downloaded to take them, which ``densenet-zoo manifest pin`` checks.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FAMILIES",
    "MODULE_ARCHITECTURES",
    "Family",
    "Fingerprint",
    "ModuleArchitecture",
]


@dataclass(frozen=True)
class Family:
    """A kind of published model: where it comes from and how its files load.

    ``loader`` is ``"densenet"`` (DenseNet converter, cached safetensors) or
    ``"module"`` (:func:`converters.load_module` of the ``.t7``); ``net_field``
    names the field of a checkpoint table that holds the net (None: the file
    is the net); ``imagenet_classifier`` says that its models map a 224x224
    ImageNet image to 1000 class scores (they can be evaluated).
    """

    name: str
    title: str
    loader: str
    net_field: str | None = None
    imagenet_classifier: bool = False


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("densenet", "DenseNet (liuzhuang13/DenseNet)", "densenet", imagenet_classifier=True),
        Family("resnet", "ResNet (facebookarchive/fb.resnet.torch)", "module", imagenet_classifier=True),
        Family("openface", "OpenFace face embedder (cmusatyalab/openface)", "module"),
        Family("fast-neural-style", "fast-neural-style (jcjohnson/fast-neural-style)", "module", net_field="model"),
    )
}


@dataclass(frozen=True)
class Fingerprint:
    """What a network's weights look like: how many ``weight`` tensors, their elements, their shapes' sha256."""

    weight_tensors: int
    weights: int
    shapes_sha256: str

    @classmethod
    def of(cls, module: Any) -> Fingerprint:
        """The fingerprint of a ``torch.nn.Module`` (a ``meta`` skeleton will do: only shapes are read)."""
        shapes = [
            tuple(parameter.shape)
            for name, parameter in module.named_parameters()
            if name.rpartition(".")[2] == "weight"
        ]
        text = ";".join("x".join(str(size) for size in shape) for shape in shapes)
        return cls(len(shapes), sum(math.prod(shape) for shape in shapes), hashlib.sha256(text.encode()).hexdigest())

    def describe(self) -> str:
        return (
            f"{self.weight_tensors} weight tensors, {self.weights:,} weights, shapes sha256 {self.shapes_sha256[:16]}"
        )


@dataclass(frozen=True)
class ModuleArchitecture:
    """A published non-DenseNet network: its family, definition, size, input and fingerprint.

    ``num_parameters`` counts the definition's parameters (without convolution
    biases where it has none); ``input_size`` is the side of the square image
    it takes (None: any size).
    """

    name: str
    family: str
    definition: str
    num_parameters: int
    fingerprint: Fingerprint
    input_size: int | None
    output: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "definition": self.definition,
            "num_parameters": self.num_parameters,
            "input_size": self.input_size,
            "output": self.output,
            "fingerprint": {
                "weight_tensors": self.fingerprint.weight_tensors,
                "weights": self.fingerprint.weights,
                "shapes_sha256": self.fingerprint.shapes_sha256,
            },
        }


#: fb.resnet.torch's ResNets: depth -> (parameters, weight tensors, weights, shapes sha256, note on the definition).
_RESNETS = {
    18: (11_689_512, 41, 11_683_712, "f1a7e4ac51bd9d806969f61a5e33d27be44db5cf997509230f1353195240c762", ""),
    34: (21_797_672, 73, 21_788_160, "eff4b24ac1ba625de7c5acf0508cf5c297772c75d4f7a970e52591e1f32057b7", ""),
    50: (
        25_557_032,
        107,
        25_529_472,
        "554fb126f41e1ba193344cf50818802fcecacf5e9619e79a128f75f335a20469",
        ", each block's last BatchNorm after the addition (pretrained/README.md)",
    ),
    101: (44_549_160, 209, 44_495_488, "450b461c7b5f0d447836402288589f632ee9d138918ebefff9a6e89b3a8ab5f6", ""),
    152: (60_192_808, 311, 60_116_096, "fde6f3803c29cd05c28378ab71f1654d4e15c79aec50539aafed334e78617b75", ""),
    200: (
        64_666_152,
        403,
        64_580_992,
        "e851e994748620b94a8fea0573880d743fda10a08076a63e7f6b8e41f8fbf27d",
        " (full pre-activation)",
    ),
}
#: fast-neural-style's two released networks: name -> (-arch, normalisation, parameters, weight tensors, weights,
#: shapes sha256, note).
_STYLE_NETS = {
    "eccv16": (
        "c9s1-32,d64,d128,R128,R128,R128,R128,R128,u64,u32,c9s1-3",
        "batch",
        1_679_235,
        31,
        1_676_032,
        "a83446f132f8794792d4b8747f8eb8158e35bd391f460b41907b109541fc271e",
        "the ECCV 2016 paper's network",
    ),
    "instance_norm": (
        "c9s1-16,d32,d64,R64,R64,R64,R64,R64,u32,u16,c9s1-3",
        "instance",
        424_899,
        31,
        423_296,
        "f8ba0a28e858165676e248fbc2c212b06556f6b0821c133c944f7758153784ed",
        "the paper's network with half the filters, README.md",
    ),
}


def _resnets() -> list[ModuleArchitecture]:
    architectures = []
    for depth, (parameters, tensors, weights, shapes, note) in _RESNETS.items():
        pre = "pre" if depth == 200 else ""
        architectures.append(
            ModuleArchitecture(
                name=f"fb_{pre}resnet{depth}",
                family="resnet",
                definition=f"fb.resnet.torch models/{pre}resnet.lua -depth {depth} -shortcutType B{note}",
                num_parameters=parameters,
                fingerprint=Fingerprint(tensors, weights, shapes),
                input_size=224,
                output="1000 ImageNet class scores (fb.resnet.torch's class order)",
            )
        )
    return architectures


def _style_nets() -> list[ModuleArchitecture]:
    return [
        ModuleArchitecture(
            name=f"fast_neural_style_{name}",
            family="fast-neural-style",
            definition=f"fast-neural-style -arch {arch} with {norm} normalisation ({note})",
            num_parameters=parameters,
            fingerprint=Fingerprint(tensors, weights, shapes),
            input_size=None,
            output="the stylised image (3 channels, the input's size), before fast-neural-style's deprocessing",
        )
        for name, (arch, norm, parameters, tensors, weights, shapes, note) in _STYLE_NETS.items()
    ]


_OPENFACE = ModuleArchitecture(
    name="openface_nn4_small2",
    family="openface",
    definition="OpenFace models/openface/nn4.small2.def.lua of commit 9d1bd99 (January 2016), -embSize 128",
    num_parameters=3_733_968,
    fingerprint=Fingerprint(75, 3_724_528, "48e5a1d98686cad4419a4b8e768735e78c26bf636ffdc27f9f6c6a06e996d161"),
    input_size=96,
    output="a 128-d unit-length face embedding",
)

MODULE_ARCHITECTURES: dict[str, ModuleArchitecture] = {
    architecture.name: architecture for architecture in (*_resnets(), _OPENFACE, *_style_nets())
}
