"""The training loop: fb.resnet.torch's recipe on one process or many (torchrun + DDP).

Per optimizer step (Lua ``Trainer:train``): set the learning rate (once per
epoch for ``multistep``, every iteration for ``cosine``), forward, mean
cross-entropy, backward, SGD step. Each epoch ends with validation, the run
record ``result.json`` (:mod:`zoo.training.record`) and a checkpoint;
``checkpoint_every`` adds checkpoints inside epochs. On the CPU the
arithmetic is Torch7's (:func:`torch7_convolutions`): a run follows a genuine
Lua run step by step (``tests/training/test_lua_trajectory.py``).

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
import math
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
from torch import Tensor, nn

from zoo.evaluation.metrics import ErrorCounts, topk_correct
from zoo.runtime import DistributedContext, autocast, init_distributed
from zoo.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    TOTALS_KEYS,
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
from zoo.training.record import run_record, write_record
from zoo.training.resume import check_optimizer_state, check_position, check_scaler_state, check_weights, saved_config
from zoo.training.schedule import LRSchedule


@dataclass
class TrainResult:
    """How a run ended: ``finished`` (all epochs) or ``stopped`` (``stop_after`` reached).

    ``epoch``/``step`` is the last optimizer step done (1-based), ``global_step`` the count of all steps,
    ``best_top1_error`` the lowest validation top-1 error (%) of the run's epochs.
    """

    status: str
    epoch: int
    step: int
    global_step: int
    best_top1_error: float | None
    checkpoint: Path | None
    weights: Path | None
    history: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        """The outcome as JSON values, without the history (the line ``densenet-zoo train`` prints)."""
        return {
            "status": self.status,
            "epoch": self.epoch,
            "step": self.step,
            "global_step": self.global_step,
            "best_top1_error": self.best_top1_error,
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "weights": str(self.weights) if self.weights else None,
        }


@dataclass(frozen=True)
class StepResult:
    """One optimizer step on this rank: its mean loss, its samples and hits, and the signal any rank received."""

    loss: float
    counts: ErrorCounts
    signal: int


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


class Throughput:
    """Images per second over an interval; on CUDA the queued work is finished before the clock is read."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.restart()

    def restart(self) -> None:
        self.start, self.images = time.perf_counter(), 0

    def add(self, images: int) -> None:
        self.images += images

    def rate(self) -> float | None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elapsed = time.perf_counter() - self.start
        return self.images / elapsed if elapsed > 0 else None


class Trainer:
    """One run of :class:`TrainConfig` in this process (one rank of a torchrun job).

    The position is ``epoch`` (1-based) and ``step``, the optimizer steps done in it; ``global_step``
    counts all steps of the run.
    """

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
        self.micro_batch = self._micro_batch()
        if checkpoint is None:
            torch.manual_seed(config.seed)
            np.random.seed(config.seed % 2**32)
            random.seed(config.seed)
        self.data: TrainingData = build_training_data(config, context, self.micro_batch)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.model = self._build_model(checkpoint)
        self.optimizer = build_optimizer(
            self.model.parameters(), config.lr, config.momentum, config.weight_decay, config.nesterov
        )
        self.scaler = torch.amp.GradScaler(self.device.type) if config.amp == "fp16" else None
        self.steps_per_epoch = self.data.steps_per_epoch
        self.schedule = LRSchedule(config.lr, config.lr_shape, config.epochs, self.steps_per_epoch, config.dataset_kind)
        self.network = self._wrap(self.model)
        self.epoch, self.step, self.best_top1_error = 1, 0, None
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

    def _micro_batch(self) -> int:
        """Images per forward pass on this rank: the global batch over processes and accumulation steps."""
        config, world_size = self.config, self.context.world_size
        if config.batch_size % (world_size * config.accumulate):
            raise TrainingError(
                f"the global batch {config.batch_size} does not split into {world_size} processes x"
                f" {config.accumulate} accumulation steps; choose --batch-size as a multiple of"
                f" {world_size * config.accumulate}"
            )
        return config.batch_size // (world_size * config.accumulate)

    def _build_model(self, checkpoint: dict[str, Any] | None) -> nn.Module:
        """The network on this rank's device, with the checkpoint's weights when resuming."""
        model = build_model(self.config, self.data.num_classes, checkpoint["model_config"] if checkpoint else None)
        smallest = model.config.smallest_input_size
        if self.data.image_size < smallest:
            raise TrainingError(
                f"{self.data.image_size}-pixel images are too small for this network: its"
                f" {len(model.config.block_config) - 1} transitions and {model.config.stem} stem need at least"
                f" {smallest} pixels; choose a larger --image-size"
            )
        if checkpoint is not None:
            model.load_state_dict(checkpoint["model"])
        if self.config.freeze_features:
            model.features.requires_grad_(False)
        return model.to(self.device, memory_format=self.memory_format)

    def _wrap(self, model: nn.Module) -> nn.Module:
        """What the steps call: ``model`` under DDP across processes, compiled when asked."""
        network = model
        if self.context.distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            network = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        if self.config.compile:
            network = torch.compile(network)
        return network

    def _zero_totals(self) -> dict[str, float]:
        return dict.fromkeys(TOTALS_KEYS, 0.0)

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from ``checkpoint``, whose every part :mod:`zoo.training.resume` checks before it is used."""
        path = self.requested.resume
        check_position(checkpoint, path, self.config, self.steps_per_epoch, self.data.num_classes)
        check_optimizer_state(self.optimizer, checkpoint["optimizer"], path)
        if self.scaler is not None and checkpoint.get("scaler"):
            check_scaler_state(self.scaler, checkpoint["scaler"], path)
        self.epoch, self.step = int(checkpoint["epoch"]), int(checkpoint["step"])
        self.last_checkpoint = (self.epoch, self.step)
        self.best_top1_error = checkpoint.get("best_top1_error")
        self.epoch_totals = dict(checkpoint["epoch_totals"])
        self.history = list(checkpoint.get("history", []))
        states = checkpoint["rng_states"]
        if len(states) != self.context.world_size and self.context.is_main:
            print(
                f"warning: the checkpoint has RNG states of {len(states)} processes, this launch has"
                f" {self.context.world_size}; the run continues but not bit for bit",
            )
        restore_rng_state(states[self.context.rank % len(states)])

    # -------------------------------------------------------------- position
    @property
    def global_step(self) -> int:
        """Optimizer steps done in the whole run."""
        return (self.epoch - 1) * self.steps_per_epoch + self.step

    @property
    def samples_done(self) -> int:
        """Samples of the current epoch this rank has consumed (where its sampler continues)."""
        return self.step * self.config.accumulate * self.micro_batch

    # ------------------------------------------------------------ checkpoint
    def save_checkpoint(self) -> Path | None:
        """Checkpoint the current position: gather every rank's RNG state; rank 0 writes; all ranks wait."""
        rng_states = self.context.all_gather_object(capture_rng_state())
        path = None
        if self.context.is_main:
            payload = {
                "format": CHECKPOINT_FORMAT,
                "model": self.model.state_dict(),
                "model_config": self.model.config.to_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                "epoch": self.epoch,
                "step": self.step,
                "global_step": self.global_step,
                "steps_per_epoch": self.steps_per_epoch,
                "epoch_totals": dict(self.epoch_totals),
                "best_top1_error": self.best_top1_error,
                "history": list(self.history),
                "config": self.config.to_dict(),
                "world_size": self.context.world_size,
                "sampler": {"seed": self.config.seed, "epoch": self.epoch, "start": self.samples_done},
                "rng_states": rng_states,
            }
            path = save_atomic(payload, self.out / CHECKPOINT_NAME)
        self.context.barrier()
        self.last_checkpoint = (self.epoch, self.step)
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

    def _forward_backward(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[Tensor, Tensor, int]:
        """Forward and backward over the micro-batches, gradients synchronised across ranks on the last one.

        Returns the mean loss and the ``[top-1, top-5]`` hits (both left on the device: no sync here) and
        the number of samples.
        """
        losses, hits, count = [], [], 0
        for position, (images, targets) in enumerate(batches):
            images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
            targets = targets.to(self.device, non_blocking=True)
            last = position == len(batches) - 1
            sync = contextlib.nullcontext() if last or not self.context.distributed else self.network.no_sync()
            with sync:
                with autocast(self.config.amp, self.device):
                    output = self.network(images)
                loss = F.cross_entropy(output.float(), targets)
                scaled = loss / len(batches)
                if self.scaler is not None:
                    self.scaler.scale(scaled).backward()
                else:
                    scaled.backward()
            losses.append(loss.detach())
            hits.append(topk_correct(output.detach(), targets).sum(dim=0))
            count += targets.shape[0]
        return torch.stack(losses).mean(), torch.stack(hits).sum(0), count

    def _train_step(self, batches: list[tuple[torch.Tensor, torch.Tensor]], stop: StopFlag) -> StepResult:
        """One optimizer step over ``batches``, unless the loss is not finite on some rank."""
        loss, hits, count = self._forward_backward(batches)
        # One all-reduce agrees on stopping across ranks; one device-to-host copy per step for everything.
        flags = torch.stack([(~torch.isfinite(loss)).float(), torch.tensor(float(stop.signum), device=loss.device)])
        flags = self.context.all_reduce(flags, op="max")
        nonfinite, signum, loss_host, top1_hits, top5_hits = torch.cat(
            [flags, loss.view(1).float(), hits.float()]
        ).tolist()
        if nonfinite > 0:
            self.optimizer.zero_grad(set_to_none=True)
            raise self._nonfinite_loss(loss_host)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return StepResult(loss_host, ErrorCounts(count, int(top1_hits), int(top5_hits)), int(signum))

    def _nonfinite_loss(self, loss: float) -> NonFiniteLossError:
        if self.last_checkpoint is not None:
            epoch, step = self.last_checkpoint
            kept = f"The last good checkpoint (epoch {epoch}, step {step}) is kept at {self.out / CHECKPOINT_NAME}."
        else:
            kept = "No checkpoint had been written yet."
        return NonFiniteLossError(
            f"the training loss became {loss} at epoch {self.epoch}, iteration {self.step + 1}"
            f" (lr {self.optimizer.param_groups[0]['lr']:.6g}); stopped before applying that step. {kept}"
            " Lower --lr, prefer --amp bf16 over fp16, or check the data for NaN/inf values."
        )

    def _next_step(self, loader_iter: Iterator, stop: StopFlag) -> StepResult:
        """The next optimizer step of the epoch: its learning rate, the step, and the epoch's running totals."""
        iteration = self.step + 1
        if self.schedule.per_iteration:
            set_lr(self.optimizer, self.schedule(self.epoch, iteration))
        batches = list(self._micro_batches(loader_iter))
        if not batches:
            raise TrainingError(f"the data loader ran dry at epoch {self.epoch}, iteration {iteration}")
        result = self._train_step(batches, stop)
        self.step = iteration
        self.epoch_totals["loss"] += result.loss * result.counts.total
        self.epoch_totals["top1_correct"] += result.counts.top1_correct
        self.epoch_totals["top5_correct"] += result.counts.top5_correct
        self.epoch_totals["count"] += result.counts.total
        return result

    def validate(self) -> dict[str, float] | None:
        """Top-1/top-5 error (%) on the validation split with ``zoo.evaluation.evaluate`` (all ranks)."""
        from zoo.evaluation import EvaluationOptions, evaluate

        if self.data.val_dataset is None:
            return None
        options = EvaluationOptions(
            batch_size=self.micro_batch,
            workers=self.config.workers,
            device=self.device,
            amp=self.config.amp,
            channels_last=self.config.channels_last,
            hash_state_dict=False,
        )
        result = evaluate(self.model, self.data.val_dataset, options)
        return {"top1_error": result.top1_error, "top5_error": result.top5_error, "images": result.images}

    # ------------------------------------------------------------------ loop
    def _write(self, record: dict[str, Any]) -> None:
        if self.log is not None:
            self.log.write(record)

    def _log_due(self) -> bool:
        return self.context.is_main and (
            self.step % self.config.log_every == 0 or self.step in (1, self.steps_per_epoch)
        )

    def _log_step(self, result: StepResult, images_per_s: float | None, progress: Progress | None) -> None:
        """A ``train`` record (metrics.jsonl, TensorBoard) and a progress line: this step's loss, errors and LR,
        and the speed since the previous record (rank 0 only)."""
        record = {
            "kind": "train",
            "epoch": self.epoch,
            "iteration": self.step,
            "step": self.global_step,
            "loss": result.loss,
            "top1_error": result.counts.top1_error,
            "top5_error": result.counts.top5_error,
            "lr": self.optimizer.param_groups[0]["lr"],
            "images_per_s": images_per_s,
            "gpu_memory_mb": gpu_memory_mb(self.device),
        }
        self._write(record)
        if progress is not None:
            progress.update(
                self.global_step,
                self.epoch,
                self.config.epochs,
                self.step,
                self.steps_per_epoch,
                loss=result.loss,
                lr=record["lr"],
                img_s=images_per_s,
            )

    def run(self) -> TrainResult:
        """Train from the current position to the last epoch (or ``stop_after``), then export the weights."""
        config = self.config
        total_steps = config.epochs * self.steps_per_epoch
        progress = Progress(total_steps, self.progress_stream) if (self.context.is_main and config.progress) else None
        with StopFlag() as stop:
            while self.epoch <= config.epochs:
                if self._train_epoch(stop, progress):
                    return self._result("stopped", self.save_checkpoint(), None)
                self._finish_epoch()
                self._stop_if_signalled(stop)
        weights = None
        if self.context.is_main:
            weights = self.export_weights("model.safetensors", {"epochs": str(config.epochs)})
            self._write_record(finished=True)
        self.context.barrier()
        return self._result("finished", self.out / CHECKPOINT_NAME, weights)

    def _train_epoch(self, stop: StopFlag, progress: Progress | None) -> bool:
        """The current epoch's remaining steps, with their logs and checkpoints; True once ``stop_after``
        steps are done (the run then stops), False at the end of the epoch."""
        self.epoch_started = time.perf_counter()
        self.data.train_sampler.set_epoch(self.epoch)
        self.data.train_sampler.set_start(self.samples_done)
        self.network.train()
        if self.config.freeze_features:
            self.model.features.eval()  # frozen features keep their BN statistics too
        if not self.schedule.per_iteration:
            set_lr(self.optimizer, self.schedule(self.epoch))
        loader_iter = iter(self.data.train_loader)
        speed = Throughput(self.device)
        while self.step < self.steps_per_epoch:
            result = self._next_step(loader_iter, stop)
            speed.add(result.counts.total * self.context.world_size)
            if self._log_due():
                self._log_step(result, speed.rate(), progress)
                speed.restart()
            if result.signal:
                self._interrupt(f"at epoch {self.epoch}, iteration {self.step}", result.signal, self.save_checkpoint())
            if self.config.stop_after is not None and self.global_step >= self.config.stop_after:
                return True
            every = self.config.checkpoint_every
            if every and self.global_step % every == 0 and self.step < self.steps_per_epoch:
                self.save_checkpoint()
        return False

    def _stop_if_signalled(self, stop: StopFlag) -> None:
        """After an epoch (whose checkpoint is written), stop if any rank received a signal during it."""
        flag = self.context.all_reduce(torch.tensor([float(stop.signum)], device=self.device), op="max")
        if flag.item():
            self._interrupt(f"after epoch {self.epoch - 1}", int(flag.item()), self.out / CHECKPOINT_NAME)

    def _interrupt(self, when: str, signum: int, checkpoint: Path | None) -> None:
        raise TrainingInterrupted(
            f"stopped by signal {signum} {when}; checkpoint written to {checkpoint or self.out / CHECKPOINT_NAME};"
            f" continue with --resume {self.out}",
            signum,
            checkpoint,
        )

    def _finish_epoch(self) -> None:
        """Record the epoch (train loss and errors over all ranks, validation errors, the best so far), keep
        ``best.safetensors`` when the validation error is the lowest yet, and checkpoint the next epoch's start."""
        record: dict[str, Any] = {"kind": "epoch", "epoch": self.epoch, "step": self.global_step}
        record.update(self._epoch_train_metrics())
        record["lr"] = self.optimizer.param_groups[0]["lr"]
        validation = self.validate() if self.config.validate else None
        if validation is not None:
            record.update(val_top1_error=validation["top1_error"], val_top5_error=validation["top5_error"])
            self._keep_if_best(validation["top1_error"])
            record["best_top1_error"] = self.best_top1_error
        record["seconds"] = time.perf_counter() - self.epoch_started
        self.history.append(record)
        self._write(record)
        if self.context.is_main:
            self._write_record(finished=False)
        if self.context.is_main and self.config.progress:
            Progress(0, self.progress_stream).message(epoch_line(record))
        self.epoch, self.step = self.epoch + 1, 0
        self.epoch_totals = self._zero_totals()
        self.save_checkpoint()

    def _epoch_train_metrics(self) -> dict[str, float]:
        """The epoch's mean training loss and top-1/top-5 error (%) over the samples of all ranks."""
        totals = torch.tensor([self.epoch_totals[key] for key in TOTALS_KEYS], dtype=torch.float64, device=self.device)
        totals = dict(zip(TOTALS_KEYS, self.context.all_reduce(totals).cpu().tolist(), strict=True))
        counts = ErrorCounts(int(totals["count"]), int(totals["top1_correct"]), int(totals["top5_correct"]))
        return {
            "loss": totals["loss"] / max(totals["count"], 1.0),
            "top1_error": counts.top1_error,
            "top5_error": counts.top5_error,
        }

    def _write_record(self, finished: bool) -> None:
        """``out/result.json`` (:mod:`zoo.training.record`): the run's cell, recipe and test error so far."""
        record = run_record(self.config, self.model, self.history, finished, self.global_step, self.context.world_size)
        write_record(self.out, record)

    def _keep_if_best(self, top1_error: float) -> None:
        """Record ``top1_error`` as the best and export ``best.safetensors`` when it is the lowest so far."""
        if math.isnan(top1_error) or (self.best_top1_error is not None and top1_error >= self.best_top1_error):
            return
        self.best_top1_error = top1_error
        if self.context.is_main:
            self.export_weights("best.safetensors", {"epoch": str(self.epoch), "val_top1_error": f"{top1_error:.4f}"})

    def _result(self, status: str, checkpoint: Path | None, weights: Path | None) -> TrainResult:
        epoch, step = self.epoch, self.step
        if step == 0 and epoch > 1:  # report the last completed step, not the next one
            epoch, step = epoch - 1, self.steps_per_epoch
        history = list(self.history)
        return TrainResult(status, epoch, step, self.global_step, self.best_top1_error, checkpoint, weights, history)

    def close(self) -> None:
        """Close the metrics log (and TensorBoard writer)."""
        if self.log is not None:
            self.log.close()


def epoch_line(record: dict[str, Any]) -> str:
    """The progress line of an epoch record: training loss and top-1 error, then the validation errors."""
    line = f"epoch {record['epoch']}: train loss {record['loss']:.4f} top-1 error {record['top1_error']:.2f}%"
    if "val_top1_error" in record:
        line += f"  val top-1 error {record['val_top1_error']:.2f}% top-5 error {record['val_top5_error']:.2f}%"
        if record["best_top1_error"] is not None:
            line += f"  best top-1 error {record['best_top1_error']:.2f}%"
    return line


@contextlib.contextmanager
def torch7_convolutions(device: torch.device) -> Iterator[None]:
    """On the CPU, convolutions as Torch7's ``SpatialConvolutionMM`` computes them: PyTorch's own kernel
    (unfold + GEMM), not oneDNN's.

    oneDNN rounds float32 differently, enough to flip a ReLU whose input is within 1e-7 of zero; the
    flip then grows step by step (genuine Lua run, ``tests/training/test_lua_trajectory.py``: loss 1.5e-3
    relative apart after 6 steps with oneDNN, within 1e-5 for 20 steps without). Costs 10-70% of CPU
    training speed; GPUs are unaffected.
    """
    if device.type != "cpu":
        yield
        return
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


def train(config: TrainConfig, progress_stream: TextIO | None = None) -> TrainResult:
    """Run (or resume) a training run in this process; under torchrun, one rank of it."""
    context = init_distributed(config.device)
    trainer = None
    try:
        with torch7_convolutions(context.device):
            trainer = Trainer(config, context, progress_stream)
            return trainer.run()
    finally:
        if trainer is not None:
            trainer.close()
        context.close()


__all__ = [
    "NonFiniteLossError",
    "StepResult",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingError",
    "TrainingInterrupted",
    "epoch_line",
    "torch7_convolutions",
    "train",
]
