"""docs/export.md shows model.py files exactly as ``convert`` writes them today."""

from __future__ import annotations

from pathlib import Path

from fixtures import fixture_path
from test_export_fixtures import small_resnet

from converters.codegen import model_source
from converters.module_export import export_module
from converters.translate import translate

DOCS = Path(__file__).resolve().parents[2] / "docs" / "export.md"


def _block(name: str) -> tuple[str, str]:
    """The markers around a generated block of docs/export.md."""
    return f"<!-- generated: {name} (tests/export/test_export_docs.py) -->", f"<!-- end of {name} -->"


def _assert_shows(name: str, code: str) -> None:
    start, end = _block(name)
    expected = f"{start}\n```python\n{code.rstrip()}\n```\n{end}"
    text = DOCS.read_text(encoding="utf-8")
    assert start in text and end in text, f"docs/export.md needs the block:\n\n{expected}"
    found = text[text.index(start) : text.index(end) + len(end)]
    assert found == expected, f"docs/export.md shows other code than convert writes; make the block:\n\n{expected}"


def test_the_example_is_what_convert_writes_for_the_opencv_inception_block(tmp_path) -> None:
    source = tmp_path / "net_inception_block_net.dat"
    source.write_bytes(fixture_path("opencv_torch", "net_inception_block_net.dat").read_bytes())
    written = export_module(source, tmp_path / "net_inception_block")
    _assert_shows("net_inception_block", written.model_file.read_text(encoding="utf-8"))


def test_the_resnet_excerpt_is_what_convert_writes() -> None:
    source = model_source(translate(small_resnet()[0]))
    _assert_shows("resnet8_cifar", source[source.index("class Model(") : source.index("\n\n\nWEIGHTS = ")])
