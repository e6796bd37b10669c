"""The contrastive trainer, readable in one sitting.

    python -m openwit.train.trainer …      one process (what `openwit train` runs)
    torchrun --nproc-per-node 2 -m openwit.train.trainer …   DDP: gloo on CPU, NCCL on GPU

One optimiser step = `accum` micro-batches per rank; the contrastive batch is all of them on
all ranks (open_clip's accum_freq semantics: features of the other micro-batches are kept
without gradient, so each backward pass sees the whole batch; unlike open_clip, the temperature
takes its gradient once per step, so k micro-batches give exactly the full batch's gradient).
An epoch is a number of samples.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.distributed as dist

from openwit.core import image_tower
from openwit.core.io import atomic_write_text
from openwit.train import augment, checkpoint, data, evaluate, negatives, optim
from openwit.train import model as models
from openwit.train.config import TrainConfig, parse
from openwit.train.log import RunLog
from openwit.train.loss import ClipLoss, SigLipLoss


def setup_distributed() -> tuple[int, int, torch.device]:
    if "RANK" in os.environ and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank() if dist.is_initialized() else 0
    world = dist.get_world_size() if dist.is_initialized() else 1
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def micro_step_losses(model, loss_fn, batches, device, autocast) -> list[torch.Tensor]:
    """Backward over `batches` as one contrastive batch; returns the loss (one per micro)."""

    def forward(images, texts, valid=None):
        """Features (image, text, negative text); a batch with negatives carries them as
        its texts' second half, so one text-tower pass (and DDP's hooks) covers both."""
        with autocast():
            out = model(images.to(device, non_blocking=True), texts.to(device, non_blocking=True))
        n, txt = len(images), out["text_features"]
        return out, (out["image_features"], txt[:n], txt[n:] if valid is not None else None)

    valids = [b[2] if len(b) > 2 else None for b in batches]
    valid = None if valids[0] is None else torch.cat(valids)
    if len(batches) == 1:
        out, feats = forward(*batches[0])
        loss = _loss(loss_fn, out, *feats, valid)
        loss.backward()
        return [loss.detach()]
    with torch.no_grad():  # every micro-batch's features, to stand in for the others
        cached = [forward(*b)[1] for b in batches]
    losses = []
    for j, b in enumerate(batches):
        out, own = forward(*b)
        feats = [[own[p] if k == j else c[p] for k, c in enumerate(cached)] for p in range(3)]
        img, txt = torch.cat(feats[0]), torch.cat(feats[1])
        neg = torch.cat(feats[2]) if valid is not None else None
        sync = getattr(model, "no_sync", None)
        ctx = sync() if sync is not None and j < len(batches) - 1 else nullcontext()
        with ctx:
            loss = _loss(loss_fn, out, img, txt, neg, valid, scale_grad=j == len(batches) - 1)
            loss.backward()
        losses.append(loss.detach())
    return losses


def _loss(loss_fn, out, img, txt, neg=None, valid=None, scale_grad: bool = True):
    scale, bias = out["logit_scale"], out.get("logit_bias")
    if not scale_grad:  # the temperature takes its gradient once per step, not once per micro
        scale, bias = scale.detach(), bias.detach() if bias is not None else None
    if isinstance(loss_fn, SigLipLoss):
        return loss_fn(img, txt, scale, bias)
    return loss_fn(img, txt, scale, neg, valid)


def train(cfg: TrainConfig) -> dict:
    rank, world, device = setup_distributed()
    out = Path(cfg.out)
    ckpt_dir = out / "checkpoints"
    torch.manual_seed(cfg.seed)
    model, train_tf, eval_tf, tokenizer = models.create(cfg.model, device)
    if cfg.crop == "square":
        train_tf = augment.square_crop(train_tf)
    if cfg.flip:
        train_tf = augment.with_flip(train_tf)
    # open_clip's own config goes into every checkpoint: any consumer can rebuild the model
    # with open_clip alone (the shards job's model-score filter does).
    name = models.register(cfg.model)
    meta = {"model_name": name, "model_config": open_clip.get_model_config(name)}
    if cfg.loss == "siglip" and getattr(model, "logit_bias", None) is None:
        model.logit_bias = torch.nn.Parameter(torch.tensor(-10.0, device=device))
    models.channels_last(model)
    if cfg.grad_checkpointing:
        model.set_grad_checkpointing(True)
    raw = model
    if world > 1:  # CPU DDP must not be given device_ids
        ids = [device.index] if device.type == "cuda" else None
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if cfg.compile:
        model = torch.compile(model)
    opt = torch.optim.AdamW(
        optim.param_groups(raw, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6
    )
    loss_fn = SigLipLoss() if cfg.loss == "siglip" else ClipLoss(cfg.local_loss)
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)

    side = models.image_side(raw)
    cfg.data = replace(cfg.data, decode_size=cfg.data.decode_size or 2 * side)
    shards = data.shard_list(cfg.shards)
    per_epoch = cfg.train_samples or data.dataset_size(shards)
    contrastive = cfg.data.batch_size * world * cfg.accum
    steps_per_epoch = max(1, per_epoch // contrastive)
    total = steps_per_epoch * cfg.epochs
    step, epoch, in_epoch = 0, 0, 0
    meta["run"] = {
        "model": cfg.model,
        "data": data.fingerprint(shards, per_epoch),
        "contrastive batch": contrastive,
        "loss": cfg.loss,
        "crop": cfg.crop,
        "flip": cfg.flip,
        "hard negatives": cfg.hard_negatives,
    }
    if cfg.resume:
        path = checkpoint.latest(ckpt_dir) if cfg.resume == "latest" else Path(cfg.resume)
        if path is not None:
            state = checkpoint.load(path)
            saved = state.get("run") or {"model": state["config"]["model"]}
            if problem := checkpoint.mismatch(saved, meta["run"]):
                print(
                    f"error: cannot resume {path}: {problem}. Give this run its own folder "
                    f"(openwit train --run NAME, or --out), or delete {out}",
                    file=sys.stderr,
                )
                sys.exit(2)
            raw.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            step, epoch, in_epoch = state["step"], state["epoch"], state["in_epoch"]
            checkpoint.set_rng_states(
                state["rng"][rank] if rank < len(state["rng"]) else state["rng"][0]
            )
    log = RunLog(out, rank)
    log.info(
        f"{models.parameter_count(raw) / 1e6:.1f}M parameters, {len(shards)} shards, "
        f"{per_epoch} samples/epoch, {steps_per_epoch} steps/epoch × {cfg.epochs}, "
        f"contrastive batch {contrastive}, {world} process(es) on {device}"
    )
    skipped: dict[int, int] = {}
    started, seen = time.time(), 0
    while epoch < cfg.epochs and (cfg.max_steps is None or step < cfg.max_steps):
        batches = iter(
            data.loader(
                shards, cfg.data, train_tf, tokenizer, epoch, in_epoch * cfg.accum, rank, world
            )
        )
        model.train()
        while in_epoch < steps_per_epoch and (cfg.max_steps is None or step < cfg.max_steps):
            micro = []
            for _ in range(cfg.accum):
                images, texts, worker, bad = next(batches)
                skipped[worker] = bad
                if cfg.hard_negatives:  # seeded by step: a resumed run draws the same swaps
                    g = np.random.default_rng([cfg.seed, step, rank, len(micro)])
                    neg, valid = negatives.swap_one_word(texts, g, tokenizer.eot_token_id)
                    micro.append((images, torch.cat([texts, neg]), valid))
                else:
                    micro.append((images, texts))
            for g in opt.param_groups:
                g["lr"] = optim.lr_at(step, cfg.lr, cfg.warmup, total)
            opt.zero_grad(set_to_none=True)
            losses = micro_step_losses(model, loss_fn, micro, device, autocast)
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(raw.parameters(), cfg.grad_clip)
            opt.step()
            with torch.no_grad():  # CLIP: the temperature may not make logits exceed 100
                raw.logit_scale.clamp_(0, math.log(100))
            step, in_epoch, seen = step + 1, in_epoch + 1, seen + contrastive
            if step % cfg.log_every == 0 or in_epoch == steps_per_epoch:
                rate = seen / (time.time() - started)
                log.metrics(
                    {
                        "step": step,
                        "epoch": epoch,
                        "loss": float(losses[-1]),
                        "time": round(time.time() - started, 3),
                        "logit_scale": float(raw.logit_scale.detach().exp()),
                        "lr": opt.param_groups[0]["lr"],
                        "samples_per_s": round(rate, 1),
                        "skipped_samples": sum(skipped.values()),
                    }
                )
            if step % cfg.checkpoint_every == 0 or in_epoch == steps_per_epoch:
                position = {"step": step, "epoch": epoch, "in_epoch": in_epoch}
                checkpoint.save_step(ckpt_dir, raw, opt, position, asdict(cfg), meta)
        if in_epoch == steps_per_epoch:
            epoch, in_epoch = epoch + 1, 0
            if cfg.eval_dir and rank == 0 and (epoch == cfg.epochs or epoch % 5 == 0):
                result = evaluate.evaluate(
                    raw,
                    tokenizer,
                    eval_tf,
                    cfg.eval_dir,
                    device,
                    evaluate.load_contamination(cfg.contamination),
                    probes=not cfg.zero_shot_only,
                )
                log.metrics({"step": step, "epoch": epoch, "eval": _headline(result)})
                result = {**result, "step": step, "epoch": epoch}
                atomic_write_text(out / "eval.json", json.dumps(result, indent=2) + "\n")
    if rank == 0 and not cfg.no_onnx and (last := checkpoint.latest(ckpt_dir)) is not None:
        export_tower(raw, eval_tf, last, log)
    if dist.is_initialized():
        dist.barrier()
    return {
        "steps": step,
        "epochs": epoch,
        "samples_per_s": round(seen / max(1e-9, time.time() - started), 1),
    }


def export_tower(model, eval_tf, last: Path, log: RunLog) -> None:
    """The last checkpoint's image tower as ONNX beside it, for the pipeline's embedders
    (core/image_tower.py). Optional for them: a model the exporter cannot take is logged and
    the pipeline rebuilds it with open_clip instead."""
    t0 = time.time()
    try:
        path = image_tower.export(model, eval_tf, last)
    except Exception as e:  # noqa: BLE001 - the run's checkpoint is written and usable
        log.info(f"image tower not exported ({type(e).__name__}: {e}); embedders use open_clip")
        return
    if path is not None:
        log.info(f"image tower {path.name} exported in {time.time() - t0:.1f}s")


def _headline(result: dict) -> dict:
    return {k: round(v["top1"], 4) for k, v in result["zero_shot"].items()}


def main(argv: list[str] | None = None) -> None:
    result = train(parse(argv, doc=__doc__))
    if not dist.is_initialized() or dist.get_rank() == 0:
        print(json.dumps(result), flush=True)
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
