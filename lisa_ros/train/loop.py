"""The training loop: AdamW with warmup + decay, gradient accumulation and clipping, periodic
validation, checkpoints, resume, and data parallelism over local processes.

Official optimisation: AdamW lr 3e-4, betas (0.9, 0.95), no weight decay, linear warmup (100
steps) then linear decay to 0 (:mod:`~lisa_ros.train.schedule`), gradient clipping 1.0. On CUDA
the forward runs under bf16 autocast with fp32 trainable weights (frozen weights are kept in bf16
there); on the CPU everything is fp32.

The loop is the same for every run; a config's :meth:`~lisa_ros.train.config.TrainConfig.aids`
adds what is optional (:mod:`lisa_ros.train.extension`): a fresh model instead of a checkpoint,
extra conversations, extra loss terms and the parameters they train.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .checkpoints import MODEL_DIR, STATE_FILE, load_state, save_model, save_state
from .config import TrainConfig
from .distributed import DataParallel
from .model_setup import ModelSetup, cast_frozen, load_checkpoint, resolve_device, validation_summary
from .schedule import lr_factor
from .trainable import load_trainable_state_dict, setup_trainable, trainable_state_dict

__all__ = ["TrainResult", "train"]

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a finished run leaves behind (``model`` is the in-memory model, LoRA unmerged)."""

    model_folder: Path
    steps: int
    seconds: float
    trainable: dict
    last_losses: dict
    validations: list[dict]
    model: object = None
    tokenizer: object = None
    clip_preprocess: object = None


def _build(cfg: TrainConfig, aids, out: Path, autocast: bool, main: bool = True) -> ModelSetup:
    """The model to train: the aids' fresh model, else the ``--model`` checkpoint. The other ranks
    of a data-parallel run reuse the tokenizer rank 0 trained for a fresh model."""
    fresh = aids.fresh_model(out, reuse_tokenizer=cfg.resume or not main, main=main)
    return fresh if fresh is not None else load_checkpoint(cfg, autocast)


def train(cfg: TrainConfig) -> TrainResult:
    """Run (or resume) a training run described by ``cfg``; returns where the model went.

    With ``cfg.processes > 1`` the run is data-parallel over that many local processes (each
    with ``cfg.threads`` threads and ``images_per_batch`` images per micro-batch); the returned
    result then carries no in-memory model.
    """
    if cfg.processes <= 1:
        return _train(cfg, DataParallel())
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    mp.spawn(_train_worker, args=(cfg, port), nprocs=cfg.processes, join=True)
    result = json.loads((Path(cfg.out) / "result.json").read_text(encoding="utf-8"))
    return TrainResult(Path(result["model_folder"]), result["steps"], time.perf_counter() - started,
                       result["trainable"], result["last"], result["validations"])


def _train_worker(rank: int, cfg: TrainConfig, port: int) -> None:
    import torch.distributed as dist

    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=cfg.processes)
    try:
        result = _train(cfg, DataParallel(rank, cfg.processes))
        if rank == 0:
            (Path(cfg.out) / "result.json").write_text(json.dumps({
                "model_folder": str(result.model_folder), "steps": result.steps, "trainable": result.trainable,
                "last": result.last_losses, "validations": result.validations,
            }) + "\n", encoding="utf-8")
    finally:
        dist.destroy_process_group()


def _train(cfg: TrainConfig, dist: DataParallel) -> TrainResult:
    from .batching import collate
    from .forward import lisa_loss
    from .sources import build_source
    from .stream import Prefetcher, TrainStream

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    if device.startswith("cuda") and dist.world > 1:
        device = f"cuda:{dist.rank % torch.cuda.device_count()}"
    if cfg.precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, not {cfg.precision!r}")
    autocast = device.startswith("cuda") and cfg.precision != "fp32"
    if cfg.precision == "bf16" and not autocast:
        raise ValueError("bf16 training needs CUDA (bf16 autocast); the CPU trains in fp32")
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    state = None
    if cfg.resume:
        if not (out / STATE_FILE).is_file():
            raise FileNotFoundError(f"--resume: {out / STATE_FILE} does not exist")
        state = load_state(out / STATE_FILE)
    torch.manual_seed(cfg.seed)
    aids = cfg.aids()
    if dist.main:
        setup = _build(cfg, aids, out, autocast)
    dist.barrier()  # rank 0 may have trained the tokenizer the others then read
    if not dist.main:
        setup = _build(cfg, aids, out, autocast, main=False)
    model = setup.model
    counts = setup_trainable(model, cfg.mode, cfg.lora_settings())
    if state is not None:
        load_trainable_state_dict(model, state["trainable"])
    if autocast:
        cast_frozen(model, torch.bfloat16)
    model.to(device)
    dist.broadcast_parameters(model)
    if cfg.grad_checkpointing:
        model.llm.gradient_checkpointing_enable()
        model.llm.enable_input_require_grads()
    model.train()
    if dist.main:
        (out / "run.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n", encoding="utf-8")
        log.info("trainable parameters: %s", counts)

    params = [p for p in model.parameters() if p.requires_grad]
    params += aids.prepare(model, cfg.mode, device, state.get("extra", {}) if state is not None else None, dist)
    terms = aids.loss_terms()
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
    # The schedule is a pure function of the step (and, with a time budget, of the training
    # time so far), so its whole state is the elapsed time.
    elapsed_before = 0.0
    start = 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        elapsed_before = float(state["scheduler"].get("elapsed", 0.0))
        start = int(state["step"])
        rng_states = state.get("rank_rng") or [state["torch_rng"]]
        torch.set_rng_state(rng_states[dist.rank] if dist.rank < len(rng_states) else state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    stream = TrainStream(build_source(cfg), cfg.seed, cfg.conversations_per_image, cfg.phrase_long_prob,
                         aids.data_hooks())
    prefetcher = Prefetcher(stream, cfg.data_workers, lookahead=4 * cfg.images_per_batch * cfg.grad_accum)
    seg_id = setup.tokenizer.seg_token_id
    weights = cfg.loss_weights()
    sam_size = model.sam_shape.img_size
    use_start_end = setup.config.mm_use_im_start_end

    def set_lr(step: int, elapsed: float) -> float:
        time_progress = elapsed / cfg.time_budget if cfg.time_budget else None
        lr = cfg.lr * lr_factor(step, cfg.steps, cfg.warmup, cfg.schedule, cfg.min_lr_ratio, time_progress)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def scheduler_state() -> dict:
        return {"schedule": cfg.schedule, "elapsed": elapsed_before + (time.perf_counter() - started)}

    def save(step: int) -> Path:
        rank_rng = dist.gather_rng()
        folder = out / MODEL_DIR
        if dist.main:
            folder = save_model(
                model, out / MODEL_DIR, setup.tokenizer_folder, setup.clip_preprocess,
                clip_source=setup.clip_source, write_clip=setup.write_clip,
                llm_dtype=cfg.llm_dtype, sam_dtype=cfg.sam_dtype, clip_dtype=cfg.clip_dtype, safe=cfg.safetensors,
            )
            save_state(out / STATE_FILE, trainable=trainable_state_dict(model), optimizer=optimizer.state_dict(),
                       scheduler=scheduler_state(), step=step,
                       extra={"counts": counts, "processes": dist.world, **aids.state()},
                       rank_rng=rank_rng if dist.world > 1 else None)
        dist.barrier()
        return folder

    def validate(step: int) -> None:
        if dist.main:
            record = {"step": step, **validation_summary(cfg, setup, device, autocast)}
            validations.append(record)
            log_file.write(json.dumps({"validation": record}) + "\n")
            log.info("validation %s", record)
            if bar is not None:
                bar.write(f"validation at step {step}: {json.dumps(record)}")
        dist.barrier()

    bar = None
    if cfg.progress and dist.main:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=start, desc="lisa-train", unit="step", dynamic_ncols=True)
    log_file = (out / "log.jsonl").open("a", encoding="utf-8") if dist.main else None
    validations: list[dict] = []
    last: dict = {}
    started = time.perf_counter()
    images_done = 0
    running: dict[str, float] = {}
    try:
        end = cfg.steps if cfg.stop_after is None else min(cfg.steps, start + cfg.stop_after)
        for step in range(start, end):
            lr = set_lr(step, elapsed_before + time.perf_counter() - started)
            # every rank reports the same keys (dist.mean), the extra terms included
            totals = dict.fromkeys(["loss", "ce", "bce", "dice", *(term.name for term in terms)], 0.0)
            for micro in range(cfg.grad_accum):
                chunk = (step * cfg.grad_accum + micro) * dist.world + dist.rank
                position = chunk * cfg.images_per_batch
                items = prefetcher.items(position, cfg.images_per_batch)
                batch = collate(items, setup.tokenizer, setup.clip_preprocess, sam_size, use_start_end, cfg.max_length)
                batch.to(device)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                    parts = lisa_loss(model, batch, seg_id, weights, cfg.share_prefix, terms)
                (parts.total / cfg.grad_accum).backward()
                for key, value in parts.as_floats().items():
                    totals[key] += value / cfg.grad_accum
                images_done += len(items) * dist.world
            dist.average_gradients(params)
            totals = dist.mean(totals)
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip) if cfg.grad_clip > 0 else torch.tensor(0.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            elapsed = time.perf_counter() - started
            last = {"step": step + 1, **{k: round(v, 5) for k, v in totals.items()}, "lr": lr,
                    "grad_norm": round(float(grad_norm), 4), "seconds": round(elapsed, 2),
                    "images_per_s": round(images_done / max(elapsed, 1e-9), 3)}
            for key, value in totals.items():
                running[key] = value if key not in running else 0.9 * running[key] + 0.1 * value
            if log_file is not None:
                log_file.write(json.dumps(last) + "\n")
                log_file.flush()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{running['loss']:.3f}", ce=f"{running['ce']:.3f}",
                                bce=f"{running['bce']:.3f}", dice=f"{running['dice']:.3f}", lr=f"{lr:.2e}")
            elif dist.main and cfg.log_every and (step + 1) % cfg.log_every == 0:
                log.info("step %d %s", step + 1, last)
            if cfg.val and cfg.val_every and (step + 1) % cfg.val_every == 0 and step + 1 < end:
                validate(step + 1)
            if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < end:
                save(step + 1)
            out_of_time = bool(cfg.time_budget) and elapsed_before + time.perf_counter() - started >= cfg.time_budget
            if dist.any(out_of_time):
                if dist.main:
                    log.info("time budget of %.0f s used up after %d steps", cfg.time_budget, step + 1)
                end = step + 1
                break
        folder = save(end)
        if cfg.val and (end == cfg.steps or cfg.time_budget):
            validate(end)
    finally:
        prefetcher.close()
        if log_file is not None:
            log_file.close()
        if bar is not None:
            bar.close()
    return TrainResult(folder, end, time.perf_counter() - started, counts, last, validations, model,
                       setup.tokenizer, setup.clip_preprocess)
