"""The model card (README.md) of a Hub export: YAML metadata for the Hub, then the text for people.

The metadata follows the Hub's model card spec (``library_name``, ``license``,
``datasets``, ``tags``, ``model-index``), which ``huggingface_hub.ModelCard``
parses and validates. It is written here without a YAML library: every string
is emitted as a JSON string, which YAML reads as the same double-quoted scalar,
so no value (a file name with ``: `` or a newline) can change the structure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo.hub import MeasuredError, Provenance

__all__ = ["LICENSE", "LUA_PARITY_RELATIVE_ERROR", "ORIGINAL_CODE", "CardFacts", "model_card", "yaml_lines"]

LICENSE = "bsd-3-clause"
ORIGINAL_CODE = "https://github.com/liuzhuang13/DenseNet"
#: What densenet-zoo's conversion of genuine Torch7 DenseNet checkpoints reproduces of Lua's outputs (README;
#: measured on the genuine fixtures by tests/convert/test_convert_parity.py, which requires at most 1e-5).
LUA_PARITY_RELATIVE_ERROR = 3e-7
#: The ImageNet models of the CVPR 2017 paper; the other published ones come from the memory-efficiency tech report.
CVPR_MODELS = ("densenet121", "densenet169", "densenet201", "densenet161")

_CVPR_2017 = """@inproceedings{huang2017densely,
  title     = {Densely Connected Convolutional Networks},
  author    = {Huang, Gao and Liu, Zhuang and van der Maaten, Laurens and Weinberger, Kilian Q.},
  booktitle = {Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2017}
}"""
_TECH_REPORT = """@article{pleiss2017memory,
  title   = {Memory-Efficient Implementation of DenseNets},
  author  = {Pleiss, Geoff and Chen, Danlu and Huang, Gao and Li, Tongcheng and van der Maaten, Laurens and
             Weinberger, Kilian Q.},
  journal = {arXiv preprint arXiv:1707.06990},
  year    = {2017}
}"""


@dataclass(frozen=True)
class CardFacts:
    """What the card states: the network, its provenance, the registry entry (published error) or None, the
    measured error or None, the repository id of the snippets, the weights file's hash and size, and the timm
    architecture name or None."""

    network: Any
    provenance: Provenance
    entry: Any
    measured: MeasuredError | None
    repo_id: str
    weights_sha256: str
    weights_size: int
    timm_architecture: str | None

    @property
    def model_name(self) -> str:
        from pathlib import Path

        return self.provenance.name or Path(self.provenance.source_filename).stem

    @property
    def title(self) -> str:
        return self.entry.title if self.entry is not None and self.entry.title else self.model_name


def model_card(facts: CardFacts) -> str:
    """The whole README.md: ``---`` YAML metadata ``---``, then the Markdown body."""
    front = "\n".join(yaml_lines(card_metadata(facts)))
    return f"---\n{front}\n---\n\n" + "\n\n".join(_sections(facts)) + "\n"


def card_metadata(facts: CardFacts) -> dict[str, Any]:
    """The card's YAML metadata as a dict."""
    imagenet = facts.network.config.num_classes == 1000
    tags = ["image-classification", "densenet", "densenet-zoo", "pytorch", "safetensors"]
    metadata: dict[str, Any] = {
        "library_name": "timm" if facts.timm_architecture else "densenet-zoo",
        "license": LICENSE,
        "pipeline_tag": "image-classification",
        "tags": [*tags, "timm"] if facts.timm_architecture else tags,
    }
    if imagenet:
        metadata["datasets"] = ["imagenet-1k"]
    metrics = _metrics(facts)
    if metrics and imagenet:
        result: dict[str, Any] = {
            "task": {"type": "image-classification", "name": "Image Classification"},
            "dataset": {"type": "imagenet-1k", "name": "ImageNet-1k", "split": "validation"},
            "metrics": metrics,
        }
        if facts.entry is not None and facts.entry.top1_error is not None:
            result["source"] = {"name": "DenseNet README (liuzhuang13/DenseNet)", "url": ORIGINAL_CODE}
        metadata["model-index"] = [{"name": facts.model_name, "results": [result]}]
    return metadata


def _metrics(facts: CardFacts) -> list[dict[str, Any]]:
    metrics = []
    if facts.entry is not None and facts.entry.top1_error is not None:
        where = facts.entry.error_source or "DenseNet README"
        metrics.append(
            {"type": "top1_error", "value": float(facts.entry.top1_error), "name": f"Top-1 error, published ({where})"}
        )
    if facts.measured is not None:
        measured = facts.measured
        metrics.append(
            {
                "type": "top1_error",
                "value": measured.top1_error,
                "name": f"Top-1 error, measured by densenet-zoo evaluate ({measured.preprocess} preprocessing, "
                f"{measured.crops}-crop, {measured.images} images)",
            }
        )
    return metrics


def yaml_lines(value: Any, indent: int = 0) -> Iterator[str]:
    """Block-style YAML for dicts (of plain keys), lists and scalars; strings are JSON (YAML) double-quoted."""
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                yield f"{pad}{key}:"
                yield from yaml_lines(item, indent + 2)
            else:
                yield f"{pad}{key}: {_scalar(item)}"
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                nested = list(yaml_lines(item, indent + 2))
                yield f"{pad}- {nested[0].lstrip()}"
                yield from nested[1:]
            else:
                yield f"{pad}- {_scalar(item)}"
    else:
        yield f"{pad}{_scalar(value)}"


def _scalar(value: Any) -> str:
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(value)  # str -> "...", bool -> true/false, None -> null, numbers as they are


def _sections(facts: CardFacts) -> Iterator[str]:
    yield f"# {facts.title}: {facts.model_name}, converted by densenet-zoo"
    yield _summary(facts)
    yield _details(facts)
    yield _preprocessing(facts)
    yield _usage(facts)
    yield _provenance(facts)
    yield "## Citation\n\n```bibtex\n" + _citations(facts) + "\n```"


def _summary(facts: CardFacts) -> str:
    if facts.entry is not None:
        return (
            f"The {facts.title} ImageNet model of Huang, Liu, van der Maaten and Weinberger (DenseNet, CVPR 2017), "
            f"trained in Lua Torch7 with fb.resnet.torch ({ORIGINAL_CODE}), in PyTorch, exported by "
            "[densenet-zoo](https://pypi.org/project/densenet-zoo/) (see Provenance)."
        )
    return "DenseNet-BC weights in PyTorch, exported by densenet-zoo (not one of the published DenseNet models)."


def _details(facts: CardFacts) -> str:
    config = facts.network.config
    parameters = sum(parameter.numel() for parameter in facts.network.parameters())
    blocks = "-".join(str(count) for count in config.block_config)
    lines = [
        "## Model details",
        "",
        f"- Architecture: DenseNet-BC, growth rate {config.growth_rate}, blocks {blocks}, "
        f"{config.num_init_features} initial features, bottleneck width {config.bn_size}x, compression "
        f"{config.compression:g}, {config.stem} stem, {config.num_classes} classes; {parameters:,} parameters",
        "- Parameter names are torchvision's (`features.conv0`, `features.denseblock1.denselayer1.norm1`, ..., "
        "`classifier`)",
    ]
    if facts.entry is not None and facts.entry.top1_error is not None:
        where = facts.entry.error_source or "DenseNet README"
        lines.append(f"- Published top-1 error: {float(facts.entry.top1_error)}% ({where})")
    if facts.measured is not None:
        measured = facts.measured
        lines.append(
            f"- Measured top-1 error: {measured.top1_error:.3f}% (`densenet-zoo evaluate`, {measured.preprocess} "
            f"preprocessing, {measured.crops}-crop, {measured.images} images; record `{measured.record}`)"
        )
    lines.append(f"- License: BSD-3-Clause, as the original code ({ORIGINAL_CODE}); ImageNet's terms apply to its data")
    return "\n".join(lines)


def _preprocessing(facts: CardFacts) -> str:
    text = (
        "## Preprocessing\n\n"
        "The published errors were measured with fb.resnet.torch's validation pipeline: resize the short side to "
        "256 with torch/image's bicubic `image.scale` (no antialiasing), normalise with mean (0.485, 0.456, 0.406) "
        'and std (0.229, 0.224, 0.225), centre crop 224. `zoo.transforms(kind="torch7")` reproduces it exactly.'
    )
    if facts.timm_architecture:
        text += (
            " timm reads the same steps from `config.json` (bicubic, `crop_pct` 0.875, the same mean and std), but "
            "its PIL resize antialiases, which costs these networks a few tenths of a point of top-1 accuracy."
        )
    return text


def _usage(facts: CardFacts) -> str:
    repo = facts.repo_id
    parts = [
        "## Usage",
        "",
        "With [densenet-zoo](https://pypi.org/project/densenet-zoo/) (`pip install 'densenet-zoo[hub]'`):",
        "",
        "```python\nimport zoo\n\n"
        f'model = zoo.load("hf-hub:{repo}")  # eval mode; "hf-hub:{repo}@COMMIT" pins a revision\n'
        'preprocess = zoo.transforms(kind="torch7")  # the pipeline of the published errors\n'
        'logits = model(preprocess("image.jpg")[None])\n```',
    ]
    if facts.timm_architecture:
        parts += [
            "",
            "With [timm](https://github.com/huggingface/pytorch-image-models):",
            "",
            "```python\nimport timm\n\n"
            f'model = timm.create_model("hf-hub:{repo}", pretrained=True).eval()\n'
            "config = timm.data.resolve_data_config({}, model=model)\n"
            "transform = timm.data.create_transform(**config)\n"
            "# or a downloaded file:\n"
            f'# timm.create_model("{facts.timm_architecture}", pretrained=True, '
            'pretrained_cfg_overlay=dict(file="model.safetensors"))\n```',
        ]
    parts += ["", *_plain_pytorch(facts)]
    return "\n".join(parts)


def _plain_pytorch(facts: CardFacts) -> list[str]:
    config = facts.network.config
    download = (
        "from huggingface_hub import hf_hub_download\nfrom safetensors.torch import load_file\n\n"
        f'state_dict = load_file(hf_hub_download("{facts.repo_id}", "model.safetensors"))\n'
    )
    if config.stem == "imagenet" and config.compression == 0.5:
        return [
            "With plain PyTorch and torchvision (a strict load):",
            "",
            "```python\nimport torchvision\n" + download + "model = torchvision.models.DenseNet(\n"
            f"    growth_rate={config.growth_rate}, block_config={config.block_config}, "
            f"num_init_features={config.num_init_features}, bn_size={config.bn_size}, "
            f"num_classes={config.num_classes}\n)\n"
            "model.load_state_dict(state_dict)\nmodel.eval()\n```",
        ]
    return [
        "The weights are a plain PyTorch state dict of `zoo.DenseNet` (torchvision's `DenseNet` cannot build this "
        "architecture):",
        "",
        "```python\nimport zoo\n" + download + f"model = zoo.DenseNet(zoo.DenseNetConfig(**{config.to_dict()!r}))\n"
        "model.load_state_dict(state_dict)\nmodel.eval()\n```",
    ]


def _provenance(facts: CardFacts) -> str:
    from converters.densenet import CONVERTER_VERSION
    from zoo import __version__

    source = facts.provenance
    rows = [
        ("source file", f"`{source.source_filename}` ({source.source_format})"),
        ("source sha256", f"`{source.source_sha256}`"),
        ("from", source.source_origin),
    ]
    if source.original_sha256 is not None:
        rows.append(("converted from", f"`{source.original_filename}`, sha256 `{source.original_sha256}`"))
    rows.append(("exported by", f"densenet-zoo {__version__}, converter version {CONVERTER_VERSION}"))
    if source.converted_from_lua:
        parity = (
            f"densenet-zoo's conversion reproduces Lua Torch7's outputs on genuine DenseNet checkpoints to a "
            f"relative error of {LUA_PARITY_RELATIVE_ERROR:g}"
        )
    else:
        parity = f"not converted from Lua by densenet-zoo: the weights were read from a {source.source_format} file"
    rows.append(("parity with Lua", parity))
    rows.append(("model.safetensors", f"sha256 `{facts.weights_sha256}`, {facts.weights_size} bytes"))
    table = "\n".join(f"| {key} | {_cell(value)} |" for key, value in rows)
    return f"## Provenance\n\n| | |\n|---|---|\n{table}"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _citations(facts: CardFacts) -> str:
    tech_report = facts.entry is not None and facts.entry.name not in CVPR_MODELS
    return _CVPR_2017 + ("\n" + _TECH_REPORT if tech_report else "")
