"""Training-step throughput of zoo.DenseNet next to torchvision's densenet, measured in the same run.

GPU (the issue's setting): DenseNet-121, batch 64 per GPU, 224x224, bf16 autocast, channels_last,
SGD (Nesterov, weight decay on all parameters) -- images/s of the zoo model and of torchvision's
DenseNet of the same architecture with identical settings, and their ratio. Without a GPU:
DenseNet-121, batch 8, 224x224, float32, 5 steps::

    python benchmarks/bench_train.py                      # GPU: densenet121, batch 64, bf16, channels_last
    python benchmarks/bench_train.py --memory-efficient   # adds the memory-efficient zoo model
    python benchmarks/bench_train.py --smoke              # seconds: the tiny common.smoke_config DenseNet, 32x32

Also times the training augmentation (fb.resnet.torch pipeline, per image on one core) next to
torchvision's RandomResizedCrop + ColorJitter + flip + normalize on the same decoded image, to size
the number of decode workers (for information). Everything runs on synthetic tensors: no dataset needed.

Target (baseline: torchvision's DenseNet in the same run, median step):
  training images/s zoo / torchvision >= 0.9
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F
from common import Target, argument_parser, print_ratio, report, smoke_config, torchvision_densenet


def build_models(args):
    from zoo import DenseNet, get_config

    config = smoke_config() if args.smoke else get_config(args.arch)
    models = {"zoo": DenseNet(config)}
    if args.memory_efficient:
        models["zoo memory-efficient"] = DenseNet(config, memory_efficient=True)
    models["torchvision"] = torchvision_densenet(config)
    return models, config


def time_training(model, args, device, num_classes):
    from zoo.runtime import autocast
    from zoo.training.optim import build_optimizer

    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format).train()
    if args.compile:
        model = torch.compile(model)
    optimizer = build_optimizer(model.parameters(), lr=0.1)
    generator = torch.Generator(device="cpu").manual_seed(0)
    images = torch.randn(args.batch_size, 3, args.size, args.size, generator=generator).to(
        device, memory_format=memory_format
    )
    targets = torch.randint(0, num_classes, (args.batch_size,), generator=generator).to(device)
    scaler = torch.amp.GradScaler(device.type) if args.amp == "fp16" else None

    def step():
        with autocast(args.amp, device):
            loss = F.cross_entropy(model(images).float(), targets)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    median = times[len(times) // 2]
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    model.to("cpu")
    return {"images_per_s": args.batch_size / median, "step_ms": 1000 * median, "peak_gib": peak}


def time_augmentation(repeats: int) -> dict[str, float]:
    from torchvision.transforms import v2

    from zoo.data import augment

    image = (torch.rand(3, 375, 500, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    ours = augment.imagenet_train_transform(224)
    theirs = v2.Compose(
        [
            v2.RandomResizedCrop(224, antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.ColorJitter(0.4, 0.4, 0.4),
            v2.RandomHorizontalFlip(),
            v2.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # one decode worker's view
    try:
        results = {}
        for name, run in (
            ("zoo fb.resnet.torch", lambda index: ours(image, augment.sample_generator(0, 1, index))),
            ("torchvision v2", lambda index: theirs(image)),
        ):
            run(0)
            start = time.perf_counter()
            for index in range(repeats):
                run(index)
            results[name] = repeats / (time.perf_counter() - start)
        return results
    finally:
        torch.set_num_threads(previous)


def parse_arguments():
    from zoo.choices import AMP_MODES

    parser = argument_parser(__doc__)
    parser.add_argument("--arch", default="densenet121")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--amp", choices=AMP_MODES, default=None)
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--memory-efficient", action="store_true")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--augment-repeats", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print the results as JSON (the targets go to stderr)")
    args = parser.parse_args()
    if args.device.startswith("cuda"):
        defaults = dict(batch_size=64, size=224, amp="bf16", channels_last=True, steps=30, warmup=10)
    else:
        defaults = dict(batch_size=8, size=224, amp="off", channels_last=False, steps=5, warmup=1)
    defaults["augment_repeats"] = 50
    if args.smoke:
        defaults.update(batch_size=2, size=32, steps=2, warmup=1, augment_repeats=2)
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main() -> None:
    args = parse_arguments()
    device = torch.device(args.device)
    models, config = build_models(args)
    report_json = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "arch": "smoke" if args.smoke else args.arch,
        "batch_size": args.batch_size,
        "size": args.size,
        "amp": args.amp,
        "channels_last": args.channels_last,
        "results": {},
    }
    for name, model in models.items():
        torch.manual_seed(0)
        report_json["results"][name] = time_training(model, args, device, config.num_classes)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    baseline = report_json["results"]["torchvision"]["images_per_s"]
    for result in report_json["results"].values():
        result["ratio_vs_torchvision"] = result["images_per_s"] / baseline
    report_json["augmentation_images_per_s_one_core"] = time_augmentation(args.augment_repeats)
    target = Target(
        "training images/s zoo / torchvision",
        report_json["results"]["zoo"]["ratio_vs_torchvision"],
        ">=",
        0.9,
        f"torchvision {baseline:.1f} images/s",
    )
    if args.json:
        print(json.dumps(report_json, indent=2))
        sys.exit(report([target], args, stream=sys.stderr))
    print(
        f"{report_json['device']}: {report_json['arch']} training step, batch {args.batch_size}, "
        f"{args.size}x{args.size}, amp {args.amp}, channels_last {args.channels_last}, torch threads "
        f"{torch.get_num_threads()}"
    )
    for name, result in report_json["results"].items():
        peak = f"  peak {result['peak_gib']:.2f} GiB" if result["peak_gib"] is not None else ""
        print(f"  {name:24s} {result['images_per_s']:9.1f} images/s  {result['step_ms']:8.2f} ms/step{peak}")
    if "zoo memory-efficient" in report_json["results"]:
        ratio = report_json["results"]["zoo memory-efficient"]["ratio_vs_torchvision"]
        print_ratio("training images/s zoo memory-efficient / torchvision", ratio, target.baseline)
    augmentation = report_json["augmentation_images_per_s_one_core"]
    print("augmentation, one core, 500x375 -> 224:")
    for name, rate in augmentation.items():
        print(f"  {name:24s} {rate:9.1f} images/s")
    base = augmentation["torchvision v2"]
    ratio = augmentation["zoo fb.resnet.torch"] / base
    print_ratio("augmentation images/s zoo / torchvision v2", ratio, f"torchvision v2 {base:.1f} images/s")
    sys.exit(report([target], args))


if __name__ == "__main__":
    main()
