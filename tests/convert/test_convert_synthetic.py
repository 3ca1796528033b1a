"""The writer's Lua trees look like the genuine checkpoints, down to fields, cached sizes and file size."""

from __future__ import annotations

import json

import pytest
from fixtures import fixture_path

from converters import t7
from converters.synthetic.densenet import densenet_checkpoint
from zoo import DenseNetConfig

PARAMETER_FIELDS = ("weight", "bias", "gradWeight", "gradBias")


def _describe(value):
    if isinstance(value, t7.T7Tensor):
        return (
            "tensor",
            value.typename,
            value.size,
            value.stride,
            value.storage_offset,
            None if value.storage is None else value.storage.size,
        )
    if isinstance(value, t7.T7Storage):
        return ("storage", value.typename, tuple(value.numpy().tolist()))
    if isinstance(value, t7.T7Table):
        return (
            "table",
            tuple((key, _describe(item)) for key, item in sorted(value.items(), key=lambda pair: str(pair[0]))),
        )
    return (type(value).__name__, value)


def _differences(genuine: t7.T7Object, ours: t7.T7Object, path: str, found: list) -> None:
    if (genuine.typename, genuine.version) != (ours.typename, ours.version):
        found.append((path, genuine.typename, ours.typename))
        return
    if set(genuine.fields) != set(ours.fields):
        found.append((path, sorted(set(genuine.fields) ^ set(ours.fields))))
    for name in set(genuine.fields) & set(ours.fields):
        mine, theirs = ours[name], genuine[name]
        if name == "modules":
            pairs = list(zip(theirs.as_list(), mine.as_list(), strict=False))
            if len(theirs) != len(mine):
                found.append((path, "modules", len(theirs), len(mine)))
            for index, (left, right) in enumerate(pairs):
                _differences(left, right, f"{path}.modules[{index + 1}]", found)
        elif name in ("net1", "net2"):
            _differences(theirs, mine, f"{path}.{name}", found)
        elif name == "opt":  # the options table also holds paths and run settings
            if set(theirs) != set(mine):
                found.append((path, "opt", set(theirs) ^ set(mine)))
        elif name in PARAMETER_FIELDS or name.startswith(("running_", "saved_bn_")) or name == "scaleT":
            if _describe(theirs)[:-1] != _describe(mine)[:-1] or theirs.storage.size != mine.storage.size:
                found.append((path, name, _describe(theirs), _describe(mine)))
        elif _describe(theirs) != _describe(mine):
            found.append((path, name, _describe(theirs), _describe(mine)))


@pytest.mark.parametrize(("name", "layout"), [("tiny_std", "standard"), ("tiny_custom", "custom")])
def test_tree_matches_genuine_checkpoint(name: str, layout: str, tmp_path) -> None:
    description = json.loads(fixture_path("torch7", "densenet", f"{name}.json").read_text())
    config = DenseNetConfig(
        growth_rate=description["growthRate"],
        block_config=tuple(description["stages"]),
        num_init_features=2 * description["growthRate"],
        compression=description["reduction"],
    )
    genuine = t7.load(fixture_path("torch7", "densenet", f"{name}.t7"))
    ours = densenet_checkpoint(
        config,
        layout=layout,
        seed=0,
        batch_size=description["input"]["shape"][0],
        train_batch_size=description["train_batch"],
    )
    found: list = []
    _differences(genuine, ours, "model", found)
    assert found == []
    path = tmp_path / "ours.t7"
    t7.save(ours, path)
    genuine_size = fixture_path("torch7", "densenet", f"{name}.t7").stat().st_size
    # Only the custom layout's copies of opt.save (a directory name) differ in length.
    assert abs(path.stat().st_size - genuine_size) <= 16 * sum(config.block_config)


def test_custom_layers_share_tensors_but_not_tables() -> None:
    root = densenet_checkpoint(DenseNetConfig(growth_rate=4, block_config=(2, 1), num_init_features=8), layout="custom")
    layer = root["modules"][6]
    conv, mirror = layer["net2"]["modules"][1], layer["modules"][2]["modules"][1]
    assert conv is not mirror and conv["pad"] is not mirror["pad"]
    assert conv["weight"] is mirror["weight"] and conv["iSize"] is mirror["iSize"]
    assert layer["input_c"].storage is root["modules"][5]["input_c"].storage
