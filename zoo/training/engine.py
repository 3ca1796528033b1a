"""The training loop: fb.resnet.torch's recipe on one process or many (torchrun + DDP).

Per optimizer step (Lua ``Trainer:train``): set the learning rate (once per
epoch for ``multistep``, every iteration for ``cosine``), forward, mean
cross-entropy, backward, SGD step. Each epoch ends with validation and a
checkpoint; ``checkpoint_every`` adds checkpoints inside epochs.

Exact resumption: the model, optimizer, scaler and RNG states of every rank
are saved with the position (epoch, steps done). The sampler order is a
function of (seed, epoch) and every sample's augmentation a function of
(seed, epoch, index), so a resumed run skips the consumed batches and then sees
exactly the batches the uninterrupted run saw.

Stopping: SIGTERM/SIGINT set a flag; after the current step every rank agrees
(one all-reduce per step), writes a checkpoint and raises
:class:`TrainingInterrupted`. A non-finite loss on any rank stops all ranks
before the optimizer step with :class:`NonFiniteLossError`; the last
checkpoint on disk is the last good one.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.evaluation.metrics import topk_correct
from zoo.runtime import DistributedContext, autocast, init_distributed
from zoo.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_atomic,
)
from zoo.training.config import TrainConfig
from zoo.training.data import TrainingData, build_training_data
from zoo.training.errors import NonFiniteLossError, TrainingError, TrainingInterrupted
from zoo.training.metrics import MetricsLog, Progress, gpu_memory_mb
from zoo.training.model import build_model
from zoo.training.optim import build_optimizer, set_lr
from zoo.training.resume import check_optimizer_state, check_position, check_scaler_state, check_weights, saved_config
from zoo.training.schedule import LRSchedule


@dataclass
class TrainResult:
    """How a run ended: ``finished`` (all epochs) or ``stopped`` (``stop_after`` reached).

    ``epoch``/``step`` is the last optimizer step done (1-based), ``global_step`` the count of all steps.
    """

    status: str
    epoch: int
    step: int
    global_step: int
    best_top1: float | None
    checkpoint: Path | None
    weights: Path | None
    history: list[dict[str, Any]]


class StopFlag:
    """Records SIGTERM/SIGINT instead of dying, so the loop can checkpoint first (main thread only)."""

    def __init__(self) -> None:
        self.signum = 0
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, without waiting for the checkpoint
        self.signum = signum

    def __exit__(self, *exc_info: Any) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


class Trainer:
    """One run of :class:`TrainConfig` in this process (one rank of a torchrun job)."""

    def __init__(self, config: TrainConfig, context: DistributedContext, progress_stream: TextIO | None = None) -> None:
        self.requested = config
        self.context = context
        self.device = context.device
        self.progress_stream = progress_stream
        checkpoint = None
        if config.resume:
            checkpoint = load_checkpoint(config.resume)
            config = saved_config(checkpoint, config.resume).with_runtime_of(config)
            check_weights(checkpoint, config.resume)
        self.config = config.resolved()
        self.checkpoint_in = checkpoint
        self.out = Path(self.config.out)
        self._setup(checkpoint)

    # ----------------------------------------------------------------- setup
    def _setup(self, checkpoint: dict[str, Any] | None) -> None:
        config, context = self.config, self.context
        if config.batch_size % (context.world_size * config.accumulate):
            raise TrainingError(
                f"the global batch {config.batch_size} does not split into {context.world_size} processes x"
                f" {config.accumulate} accumulation steps; choose --batch-size as a multiple of"
                f" {context.world_size * config.accumulate}"
            )
        self.micro_batch = config.batch_size // (context.world_size * config.accumulate)
        if checkpoint is None:
            torch.manual_seed(config.seed)
            np.random.seed(config.seed % 2**32)
            random.seed(config.seed)
        self.data: TrainingData = build_training_data(config, context, self.micro_batch)
        model = build_model(config, self.data.num_classes, checkpoint["model_config"] if checkpoint else None)
        if checkpoint is not None:
            model.load_state_dict(checkpoint["model"])
        if config.freeze_features:
            model.features.requires_grad_(False)
        memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.memory_format = memory_format
        self.model = model.to(self.device, memory_format=memory_format)
        self.optimizer = build_optimizer(
            self.model.parameters(), config.lr, config.momentum, config.weight_decay, config.nesterov
        )
        self.scaler = torch.amp.GradScaler(self.device.type) if config.amp == "fp16" else None
        self.steps_per_epoch = self.data.steps_per_epoch
        self.schedule = LRSchedule(config.lr, config.lr_shape, config.epochs, self.steps_per_epoch, config.dataset_kind)
        network: nn.Module = self.model
        if context.distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            network = nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)
        if config.compile:
            network = torch.compile(network)
        self.network = network
        self.epoch, self.step, self.best_top1 = 1, 0, None
        self.last_checkpoint: tuple[int, int] | None = None
        self.epoch_totals = self._zero_totals()
        self.history: list[dict[str, Any]] = []
        if checkpoint is not None:
            self._restore(checkpoint)
        else:
            # Different dropout masks per rank; identical weights came from the shared seed.
            torch.manual_seed(config.seed + 1_000_003 * context.rank)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.log = MetricsLog(self.out, config.tensorboard) if context.is_main else None

    def _zero_totals(self) -> dict[str, float]:
        return {"loss": 0.0, "top1": 0.0, "top5": 0.0, "count": 0.0}

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from ``checkpoint``, whose every part :mod:`zoo.training.resume` checks before it is used."""
        path = self.requested.resume
        check_position(checkpoint, path, self.config, self.steps_per_epoch, self.data.num_classes)
        check_optimizer_state(self.optimizer, checkpoint["optimizer"], path)
        if self.scaler is not None and checkpoint.get("scaler"):
            check_scaler_state(self.scaler, checkpoint["scaler"], path)
        self.epoch, self.step = int(checkpoint["epoch"]), int(checkpoint["step"])
        self.last_checkpoint = (self.epoch, self.step)
        self.best_top1 = checkpoint.get("best_top1")
        self.epoch_totals = dict(checkpoint["epoch_totals"])
        self.history = list(checkpoint.get("history", []))
        states = checkpoint["rng_states"]
        if len(states) != self.context.world_size and self.context.is_main:
            print(
                f"warning: the checkpoint has RNG states of {len(states)} processes, this launch has"
                f" {self.context.world_size}; the run continues but not bit for bit",
            )
        restore_rng_state(states[self.context.rank % len(states)])

    # ------------------------------------------------------------ checkpoint
    def save_checkpoint(self, epoch: int, step: int) -> Path | None:
        """Gather every rank's RNG state; rank 0 writes; all ranks wait for the file."""
        rng_states = self.context.all_gather_object(capture_rng_state())
        path = None
        if self.context.is_main:
            payload = {
                "format": CHECKPOINT_FORMAT,
                "model": self.model.state_dict(),
                "model_config": self.model.config.to_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                "epoch": epoch,
                "step": step,
                "global_step": (epoch - 1) * self.steps_per_epoch + step,
                "steps_per_epoch": self.steps_per_epoch,
                "epoch_totals": dict(self.epoch_totals),
                "best_top1": self.best_top1,
                "history": list(self.history),
                "config": self.config.to_dict(),
                "world_size": self.context.world_size,
                "sampler": {
                    "seed": self.config.seed,
                    "epoch": epoch,
                    "start": step * self.config.accumulate * self.micro_batch,
                },
                "rng_states": rng_states,
            }
            path = save_atomic(payload, self.out / CHECKPOINT_NAME)
        self.context.barrier()
        self.last_checkpoint = (epoch, step)
        return path

    def export_weights(self, filename: str, metadata: dict[str, str]) -> Path:
        """Write the weights and config to ``out/filename`` (safetensors, atomically) for ``zoo.load_weights``."""
        from converters.export import save_weights

        return save_weights(
            self.model.state_dict(),
            self.model.config,
            self.out / filename,
            format="safetensors",
            metadata=metadata,
            force=True,
        )

    # ----------------------------------------------------------------- steps
    def _micro_batches(self, loader_iter: Iterator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for _ in range(self.config.accumulate):
            try:
                yield next(loader_iter)
            except StopIteration:
                return

    def _train_step(self, batches: list[tuple[torch.Tensor, torch.Tensor]], stop: StopFlag) -> dict[str, float]:
        config = self.config
        losses, hits, counts = [], [], 0
        for position, (images, targets) in enumerate(batches):
            images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
            targets = targets.to(self.device, non_blocking=True)
            last = position == len(batches) - 1
            sync = contextlib.nullcontext() if last or not self.context.distributed else self.network.no_sync()
            with sync:
                with autocast(config.amp, self.device):
                    output = self.network(images)
                loss = F.cross_entropy(output.float(), targets)
                scaled = loss / len(batches)
                if self.scaler is not None:
                    self.scaler.scale(scaled).backward()
                else:
                    scaled.backward()
            losses.append(loss.detach())
            hits.append(topk_correct(output.detach(), targets).sum(dim=0))  # stays on the device: no sync here
            counts += targets.shape[0]
        loss_value = torch.stack(losses).mean()
        # One all-reduce agrees on stopping across ranks; one device-to-host copy per step for everything.
        flags = torch.stack(
            [(~torch.isfinite(loss_value)).float(), torch.tensor(float(stop.signum), device=loss_value.device)]
        )
        flags = self.context.all_reduce(flags, op="max")
        nonfinite, signum, loss_host, top1, top5 = torch.cat(
            [flags, loss_value.view(1).float(), torch.stack(hits).sum(0).float()]
        ).tolist()
        if nonfinite > 0:
            self.optimizer.zero_grad(set_to_none=True)
            if self.last_checkpoint is not None:
                epoch, step = self.last_checkpoint
                kept = f"The last good checkpoint (epoch {epoch}, step {step}) is kept at {self.out / CHECKPOINT_NAME}."
            else:
                kept = "No checkpoint had been written yet."
            raise NonFiniteLossError(
                f"the training loss became {loss_host} at epoch {self.epoch}, iteration {self.step + 1}"
                f" (lr {self.optimizer.param_groups[0]['lr']:.6g}); stopped before applying that step. {kept}"
                " Lower --lr, prefer --amp bf16 over fp16, or check the data for NaN/inf values."
            )
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {"loss": loss_host, "count": counts, "top1": int(top1), "top5": int(top5), "signal": int(signum)}

    def validate(self) -> dict[str, float] | None:
        """Top-1/top-5 accuracy (%) on the validation split with ``zoo.evaluation.evaluate`` (all ranks)."""
        from zoo.evaluation import evaluate

        if self.data.val_dataset is None:
            return None
        result = evaluate(
            self.model,
            self.data.val_dataset,
            batch_size=self.micro_batch,
            workers=self.config.workers,
            device=self.device,
            amp=self.config.amp,
            channels_last=self.config.channels_last,
            hash_state_dict=False,
        )
        images = max(result.images, 1)
        return {
            "top1": 100.0 * result.top1_correct / images,
            "top5": 100.0 * result.top5_correct / images,
            "images": result.images,
        }

    # ------------------------------------------------------------------ loop
    def _set_train_mode(self) -> None:
        self.network.train()
        if self.config.freeze_features:
            self.model.features.eval()  # frozen features keep their BN statistics too

    def _write(self, record: dict[str, Any]) -> None:
        if self.log is not None:
            self.log.write(record)

    def _log_step(
        self,
        epoch: int,
        iteration: int,
        result: dict[str, float],
        images_per_s: float | None,
        progress: Progress | None,
    ) -> None:
        """A ``train`` record (metrics.jsonl, TensorBoard) and a progress line: this step's loss, accuracy and LR,
        and the speed since the previous record (rank 0 only)."""
        record = {
            "kind": "train",
            "epoch": epoch,
            "iteration": iteration,
            "step": (epoch - 1) * self.steps_per_epoch + iteration,
            "loss": result["loss"],
            "top1": 100 * result["top1"] / result["count"],
            "top5": 100 * result["top5"] / result["count"],
            "lr": self.optimizer.param_groups[0]["lr"],
            "images_per_s": images_per_s,
            "gpu_memory_mb": gpu_memory_mb(self.device),
        }
        self._write(record)
        if progress is not None:
            progress.update(
                record["step"],
                epoch,
                self.config.epochs,
                iteration,
                self.steps_per_epoch,
                loss=record["loss"],
                lr=record["lr"],
                img_s=record["images_per_s"],
            )

    def run(self) -> TrainResult:
        """Train from the current position to the last epoch (or ``stop_after``), then export the weights."""
        config, context = self.config, self.context
        total_steps = config.epochs * self.steps_per_epoch
        progress = Progress(total_steps, self.progress_stream) if (context.is_main and config.progress) else None
        with StopFlag() as stop:
            while self.epoch <= config.epochs:
                epoch = self.epoch
                self.data.train_sampler.set_epoch(epoch)
                self.data.train_sampler.set_start(self.step * config.accumulate * self.micro_batch)
                self._set_train_mode()
                if not self.schedule.per_iteration:
                    set_lr(self.optimizer, self.schedule(epoch))
                loader_iter = iter(self.data.train_loader)
                interval_start, interval_images = time.perf_counter(), 0
                while self.step < self.steps_per_epoch:
                    iteration = self.step + 1
                    if self.schedule.per_iteration:
                        set_lr(self.optimizer, self.schedule(epoch, iteration))
                    batches = list(self._micro_batches(loader_iter))
                    if not batches:
                        raise TrainingError(f"the data loader ran dry at epoch {epoch}, iteration {iteration}")
                    result = self._train_step(batches, stop)
                    self.step = iteration
                    for key in ("top1", "top5", "count"):
                        self.epoch_totals[key] += result[key]
                    self.epoch_totals["loss"] += result["loss"] * result["count"]
                    interval_images += result["count"] * context.world_size
                    global_step = (epoch - 1) * self.steps_per_epoch + iteration
                    if context.is_main and (
                        iteration % config.log_every == 0 or iteration in (1, self.steps_per_epoch)
                    ):
                        if self.device.type == "cuda":
                            torch.cuda.synchronize(self.device)
                        elapsed = time.perf_counter() - interval_start
                        self._log_step(
                            epoch, iteration, result, interval_images / elapsed if elapsed > 0 else None, progress
                        )
                        interval_start, interval_images = time.perf_counter(), 0
                    if result["signal"]:
                        path = self.save_checkpoint(epoch, iteration)
                        raise TrainingInterrupted(
                            f"stopped by signal {result['signal']} at epoch {epoch}, iteration {iteration};"
                            f" checkpoint written to {path or self.out / CHECKPOINT_NAME}; continue with "
                            f"--resume {self.out}",
                            result["signal"],
                            path,
                        )
                    if config.stop_after is not None and global_step >= config.stop_after:
                        path = self.save_checkpoint(epoch, iteration)
                        return self._result("stopped", path, None)
                    if (
                        config.checkpoint_every
                        and global_step % config.checkpoint_every == 0
                        and iteration < self.steps_per_epoch
                    ):
                        self.save_checkpoint(epoch, iteration)
                del loader_iter
                self._finish_epoch(epoch)
                flag = self.context.all_reduce(torch.tensor([float(stop.signum)], device=self.device), op="max")
                if flag.item():
                    raise TrainingInterrupted(
                        f"stopped by signal {int(flag.item())} after epoch {epoch}; checkpoint written to"
                        f" {self.out / CHECKPOINT_NAME}; continue with --resume {self.out}",
                        int(flag.item()),
                        self.out / CHECKPOINT_NAME,
                    )
        weights = None
        if context.is_main:
            weights = self.export_weights("model.safetensors", {"epochs": str(config.epochs)})
        context.barrier()
        return self._result("finished", self.out / CHECKPOINT_NAME, weights)

    def _finish_epoch(self, epoch: int) -> None:
        totals = torch.tensor(
            [self.epoch_totals[key] for key in ("loss", "top1", "top5", "count")],
            dtype=torch.float64,
            device=self.device,
        )
        totals = self.context.all_reduce(totals).cpu()
        count = max(totals[3].item(), 1.0)
        summary: dict[str, Any] = {
            "kind": "epoch",
            "epoch": epoch,
            "step": epoch * self.steps_per_epoch,
            "loss": totals[0].item() / count,
            "top1": 100 * totals[1].item() / count,
            "top5": 100 * totals[2].item() / count,
            "lr": self.optimizer.param_groups[0]["lr"],
        }
        validation = self.validate() if self.config.validate else None
        if validation is not None:
            summary.update({"val_top1": validation["top1"], "val_top5": validation["top5"]})
            if self.best_top1 is None or validation["top1"] > self.best_top1:
                self.best_top1 = validation["top1"]
                if self.context.is_main:
                    self.export_weights(
                        "best.safetensors", {"epoch": str(epoch), "val_top1": f"{validation['top1']:.4f}"}
                    )
            summary["best_top1"] = self.best_top1
        self.history.append(summary)
        self._write(summary)
        if self.context.is_main and self.config.progress:
            shown = f"epoch {epoch}: train loss {summary['loss']:.4f} top-1 {summary['top1']:.2f}%"
            if validation is not None:
                shown += (
                    f"  val top-1 {validation['top1']:.2f}% top-5 {validation['top5']:.2f}%  best {self.best_top1:.2f}%"
                )
            Progress(0, self.progress_stream).message(shown)
        self.epoch, self.step = epoch + 1, 0
        self.epoch_totals = self._zero_totals()
        self.save_checkpoint(self.epoch, 0)

    def _result(self, status: str, checkpoint: Path | None, weights: Path | None) -> TrainResult:
        epoch, step = self.epoch, self.step
        if step == 0 and epoch > 1:  # report the last completed step, not the next one
            epoch, step = epoch - 1, self.steps_per_epoch
        global_step = (epoch - 1) * self.steps_per_epoch + step
        return TrainResult(status, epoch, step, global_step, self.best_top1, checkpoint, weights, list(self.history))

    def close(self) -> None:
        """Close the metrics log (and TensorBoard writer)."""
        if self.log is not None:
            self.log.close()


def train(config: TrainConfig, progress_stream: TextIO | None = None) -> TrainResult:
    """Run (or resume) a training run in this process; under torchrun, one rank of it."""
    context = init_distributed(config.device)
    trainer = None
    try:
        trainer = Trainer(config, context, progress_stream)
        return trainer.run()
    finally:
        if trainer is not None:
            trainer.close()
        context.close()


__all__ = [
    "NonFiniteLossError",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingError",
    "TrainingInterrupted",
    "train",
]
