"""The README's list of supported Lua classes is the registry's (``converters.translate.supported_classes``)."""

from __future__ import annotations

import textwrap
from itertools import groupby
from pathlib import Path

from converters.translate import supported_classes

README = Path(__file__).resolve().parents[2] / "README.md"
START = "<!-- supported-classes: generated from converters.translate.supported_classes() -->"
END = "<!-- end of supported-classes -->"


def supported_classes_markdown() -> str:
    """The README block listing every class with a translator, one bullet per namespace."""
    classes = sorted(supported_classes(), key=lambda name: (not name.startswith("nn."), name))
    intro = (
        f"{len(classes)} Lua classes have a translator. A `cudnn.X` or `cunn.X` whose `nn.X` is listed is translated "
        "as `nn.X`; the `cudnn` classes listed are the namesakes that compute differently or keep other fields."
    )
    lines = [START, textwrap.fill(intro, width=118), ""]
    for namespace, members in groupby(classes, key=lambda name: name.partition(".")[0]):
        names = [name.partition(".")[2] for name in members]
        bullet = f"- `{namespace}` ({len(names)}): " + ", ".join(f"`{name}`" for name in names)
        lines.append(textwrap.fill(bullet, width=118, subsequent_indent="  ", break_on_hyphens=False))
    return "\n".join([*lines, END])


def test_readme_lists_exactly_the_registered_classes() -> None:
    text = README.read_text(encoding="utf-8")
    assert START in text and END in text, (
        f"README.md needs this block in 'Any Torch7 model':\n\n{supported_classes_markdown()}"
    )
    block = text[text.index(START) : text.index(END) + len(END)]
    assert block == supported_classes_markdown(), (
        f"README.md's supported-class list differs from the registry; replace its block with:\n\n"
        f"{supported_classes_markdown()}"
    )


def test_supported_classes_include_the_issue_12_list() -> None:
    required = {f"nn.{name}" for name in ("Sequential", "gModule", "Inception", "InstanceNormalization")}
    required |= {"nn.DataParallelTable", "nn.DenseConnectLayerCustom", "cudnn.SoftMax", "cudnn.SpatialCrossMapLRN"}
    assert required <= set(supported_classes())
