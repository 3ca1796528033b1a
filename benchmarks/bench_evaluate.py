"""Overhead of the evaluation harness: ``zoo.evaluation.evaluate`` vs a bare loop doing the same work.

Both run the same small model over the same freshly written JPEG folder (typical ImageNet
sizes) with the same Torch7-faithful transform, batch size and worker count:

* harness: ``evaluate(model, DIR, EvaluationOptions(...))`` (image folder, shard sampler, scoring, counts, record);
* baseline: ``ImageFolder`` + a plain ``DataLoader`` + ``model(images).topk(5)`` and nothing else.

Rounds alternate and the best of each is kept, so a shared, noisy machine penalises both alike.
Prints images/s of each. On a CUDA machine add ``--device cuda``.

Target (baseline: the bare loop in the same run):
  images/s harness / bare loop >= 0.9: the harness adds nothing that matters to decoding and the forward pass

    python benchmarks/bench_evaluate.py [--images 96] [--rounds 3] [--workers 0] [--device cpu] [--check]

(``--smoke``: 8 images, batch 2, one round.)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch
from bench_preprocess import IMAGENET_SIZES, write_jpegs
from common import Target, argument_parser, report, smoke_config


def build_folder(root: Path, images: int, classes: int = 8) -> None:
    (root / "_sources").mkdir()
    sources = write_jpegs(root / "_sources", images)
    for index, source in enumerate(sources):
        target = root / "val" / f"n{index % classes:08d}" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        source.rename(target)
    (root / "_sources").rmdir()


def bare_loop(model: torch.nn.Module, root: Path, batch_size: int, workers: int, device: torch.device) -> float:
    from torch.utils.data import DataLoader

    from zoo import transforms
    from zoo.data.folder import ImageFolder

    dataset = ImageFolder(root, transform=transforms(None, kind="torch7"))
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, pin_memory=device.type == "cuda")
    start = time.perf_counter()
    with torch.inference_mode():
        for images, labels, _ in loader:
            top = model(images.to(device, non_blocking=True)).topk(5, dim=1).indices
            (top[:, :1] == labels.to(device).view(-1, 1)).sum().item()
    return len(dataset) / (time.perf_counter() - start)


def harness(model: torch.nn.Module, root: Path, batch_size: int, workers: int, device: torch.device) -> float:
    from zoo.evaluation import EvaluationOptions, evaluate

    options = EvaluationOptions(batch_size=batch_size, workers=workers, device=device, channels_last=False)
    return evaluate(model, root, options).images_per_second


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.smoke:
        args.images, args.batch_size, args.rounds = len(IMAGENET_SIZES), 2, 1

    from zoo import DenseNet

    device = torch.device(args.device)
    model = DenseNet(smoke_config()).eval().to(device)  # small on purpose: the harness's overhead shows
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        build_folder(root, args.images)
        best = {"baseline": 0.0, "harness": 0.0}
        for _ in range(args.rounds):
            best["baseline"] = max(best["baseline"], bare_loop(model, root, args.batch_size, args.workers, device))
            best["harness"] = max(best["harness"], harness(model, root, args.batch_size, args.workers, device))
    print(
        f"{args.images} JPEGs, batch {args.batch_size}, workers {args.workers}, device {device}, "
        f"torch threads {torch.get_num_threads()}, best of {args.rounds} rounds"
    )
    print(f"baseline (bare DataLoader loop): {best['baseline']:8.1f} images/s")
    print(f"harness  (zoo evaluate):         {best['harness']:8.1f} images/s")
    target = Target(
        "images/s harness / bare loop",
        best["harness"] / best["baseline"],
        ">=",
        0.9,
        f"bare loop {best['baseline']:.1f} images/s",
    )
    sys.exit(report([target], args))


if __name__ == "__main__":
    main()
