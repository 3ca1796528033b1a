"""Training-step throughput of zoo.DenseNet next to torchvision's densenet, measured in the same run.

GPU (the issue's setting): DenseNet-121, batch 64 per GPU, 224x224, bf16 autocast, channels_last,
SGD (Nesterov, weight decay on all parameters) -- images/s of the zoo model and of
``torchvision.models.densenet121`` with identical settings, and their ratio::

    python benchmarks/bench_train.py                      # GPU: densenet121, batch 64, bf16, channels_last
    python benchmarks/bench_train.py --memory-efficient   # adds the memory-efficient zoo model
    python benchmarks/bench_train.py --smoke              # CPU smoke: a tiny DenseNet at 64x64

Also times the training augmentation (fb.resnet.torch pipeline, per image on one core) next to
torchvision's RandomResizedCrop + ColorJitter + flip + normalize on the same decoded image, to size
the number of decode workers. Everything runs on synthetic tensors: no dataset needed.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F


def build_models(args):
    import torchvision

    from zoo.models.densenet import DenseNet, DenseNetConfig

    if args.smoke:
        config = DenseNetConfig(growth_rate=8, block_config=(2, 2, 2), num_init_features=16, num_classes=100)
    else:
        from zoo import get_config

        config = get_config(args.arch)
    models = {"zoo": DenseNet(config)}
    if args.memory_efficient:
        models["zoo memory-efficient"] = DenseNet(config, memory_efficient=True)
    models["torchvision"] = torchvision.models.DenseNet(
        growth_rate=config.growth_rate,
        block_config=config.block_config,
        num_init_features=config.num_init_features,
        bn_size=config.bn_size,
        num_classes=config.num_classes,
    )
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


def main() -> None:
    from zoo.runtime import AMP_MODES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="densenet121")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--amp", choices=AMP_MODES, default=None)
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--memory-efficient", action="store_true")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--smoke", action="store_true", help="tiny model on the CPU (also the default without a GPU)")
    parser.add_argument("--augment-repeats", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    args.smoke = args.smoke or device.type == "cpu"
    defaults = (
        dict(batch_size=8, size=64, amp="off", channels_last=False, steps=10, warmup=2, augment_repeats=20)
        if args.smoke
        else dict(batch_size=64, size=224, amp="bf16", channels_last=True, steps=30, warmup=10, augment_repeats=50)
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.smoke:
        torch.set_num_threads(1)  # tiny CPU steps: one thread is steadier on a shared machine
    models, config = build_models(args)
    report = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "arch": "tiny" if args.smoke else args.arch,
        "batch_size": args.batch_size,
        "size": args.size,
        "amp": args.amp,
        "channels_last": args.channels_last,
        "results": {},
    }
    for name, model in models.items():
        torch.manual_seed(0)
        report["results"][name] = time_training(model, args, device, config.num_classes)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    baseline = report["results"]["torchvision"]["images_per_s"]
    for result in report["results"].values():
        result["ratio_vs_torchvision"] = result["images_per_s"] / baseline
    report["augmentation_images_per_s_one_core"] = time_augmentation(args.augment_repeats)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"{report['device']}: {report['arch']} training step, batch {args.batch_size}, "
        f"{args.size}x{args.size}, amp {args.amp}, channels_last {args.channels_last}"
    )
    for name, result in report["results"].items():
        peak = f"  peak {result['peak_gib']:.2f} GiB" if result["peak_gib"] is not None else ""
        print(
            f"  {name:24s} {result['images_per_s']:9.1f} images/s  {result['step_ms']:8.2f} ms/step  "
            f"x{result['ratio_vs_torchvision']:.3f} vs torchvision{peak}"
        )
    augmentation = report["augmentation_images_per_s_one_core"]
    print("augmentation, one core, 500x375 -> 224:")
    for name, rate in augmentation.items():
        print(f"  {name:24s} {rate:9.1f} images/s  x{rate / augmentation['torchvision v2']:.3f}")


if __name__ == "__main__":
    main()
