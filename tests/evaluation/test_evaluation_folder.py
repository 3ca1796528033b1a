"""zoo.data.folder.ImageFolder: fb.resnet.torch's class numbering, both layouts, --limit, crops."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from evaluation_helpers import PROTOTYPES, save_jpeg

from zoo.data.folder import DatasetLayoutError, ImageFolder, find_class_root, find_classes


def _write(root: Path, files: list[str]) -> None:
    for relative in files:
        save_jpeg(root / relative, PROTOTYPES[0], (32, 24))


def test_val_layout_sorted_classes_and_files(tmp_path):
    _write(tmp_path / "val", ["n02/b.JPEG", "n02/a.jpeg", "n01/z.JPG", "n10/c.png.JPEG", "n03/x.JPEG"])
    (tmp_path / "train").mkdir()  # fb.resnet.torch's root also holds train/; only val/ is read
    (tmp_path / "val" / "n01" / "notes.txt").write_text("not an image")
    (tmp_path / "val" / "n01" / ".hidden.JPEG").write_bytes(b"")
    (tmp_path / "val" / ".cache").mkdir()

    dataset = ImageFolder(tmp_path)

    assert dataset.class_root == tmp_path / "val"
    assert dataset.classes == ["n01", "n02", "n03", "n10"]
    relative = [(str(Path(path).relative_to(tmp_path / "val")), label) for path, label in dataset.samples]
    assert relative == [
        ("n01/z.JPG", 0),
        ("n02/a.jpeg", 1),
        ("n02/b.JPEG", 1),
        ("n03/x.JPEG", 2),
        ("n10/c.png.JPEG", 3),
    ]


def test_class_root_layout_and_items(tmp_path):
    _write(tmp_path, ["cat/1.JPEG", "cat/2.JPEG", "dog/1.JPEG"])
    dataset = ImageFolder(tmp_path, transform=lambda path: torch.full((3, 4, 4), float(len(path))))

    assert find_class_root(tmp_path) == tmp_path
    assert len(dataset) == 3
    image, label, index = dataset[2]
    assert (label, index) == (1, 2)
    assert image.shape == (3, 4, 4) and image[0, 0, 0].item() == len(dataset.samples[2][0])


def test_default_transform_decodes_rgb(tmp_path):
    _write(tmp_path, ["a/1.JPEG"])
    image, _label, _index = ImageFolder(tmp_path)[0]
    assert image.dtype == torch.float32 and image.shape == (3, 24, 32)
    assert abs(image[0].mean().item() - PROTOTYPES[0][0] / 255) < 0.02


def test_limit_takes_first_files_per_class(tmp_path):
    _write(tmp_path / "val", [f"a/{name}.JPEG" for name in "edcba"] + ["b/only.JPEG"])
    dataset = ImageFolder(tmp_path, limit=2)
    assert [Path(path).name for path, _ in dataset.samples] == ["a.JPEG", "b.JPEG", "only.JPEG"]
    with pytest.raises(ValueError, match="positive"):
        ImageFolder(tmp_path, limit=0)


def test_explicit_class_list_sets_labels(tmp_path):
    _write(tmp_path, ["n3/a.JPEG", "n1/a.JPEG"])
    dataset = ImageFolder(tmp_path, classes=["n0", "n1", "n2", "n3"])
    assert dataset.targets == [1, 3]
    with pytest.raises(DatasetLayoutError, match="not in the given class list"):
        ImageFolder(tmp_path, classes=["n1"])


def test_ten_crop_items_collate(tmp_path):
    _write(tmp_path, ["a/1.JPEG", "b/1.JPEG"])
    dataset = ImageFolder(tmp_path, transform=lambda path: torch.zeros(10, 3, 8, 8))
    images, labels, indices = next(iter(torch.utils.data.DataLoader(dataset, batch_size=2)))
    assert images.shape == (2, 10, 3, 8, 8) and labels.tolist() == [0, 1] and indices.tolist() == [0, 1]


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.mkdir(), "no class folders"),
        (lambda root: (root / "val" / "a").mkdir(parents=True), "no images"),
    ],
)
def test_layout_errors_say_what_was_expected(tmp_path, setup, message):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(DatasetLayoutError, match=message) as error:
        ImageFolder(root)
    assert "<class>" in str(error.value) or "images" in str(error.value)


def test_find_classes_skips_files(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "readme.txt").write_text("x")
    assert find_classes(tmp_path) == ["a", "b"]


def test_missing_split_is_not_mistaken_for_classes(tmp_path):
    _write(tmp_path / "val", ["n01/a.JPEG"])
    with pytest.raises(DatasetLayoutError, match="holds val/ but no train/"):
        ImageFolder(tmp_path, split="train")
    assert find_class_root(tmp_path / "val", split="train") == tmp_path / "val"
