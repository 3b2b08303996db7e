"""The training loop: model setup, AdamW with warmup + decay, gradient accumulation and
clipping, periodic validation, checkpoints, resume.

Official optimisation (docs/lisa-reference.md §4.3): AdamW lr 3e-4, betas (0.9, 0.95), no
weight decay, linear warmup (100 steps) then linear decay to 0, gradient clipping 1.0; the
cosine decay is an option. On CUDA the forward runs under bf16 autocast with fp32 trainable
weights (frozen weights are kept in bf16 there); on the CPU everything is fp32.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from dataclasses import replace as dataclasses_replace
from pathlib import Path

import torch

from .checkpoints import MODEL_DIR, STATE_FILE, load_state, save_model, save_state
from .lookup_aux import lookup_head as resolve_lookup_head
from .losses import LossWeights
from .trainable import (
    OFFICIAL_LORA_MODULES,
    LoraSettings,
    load_trainable_state_dict,
    setup_trainable,
    trainable_state_dict,
)

__all__ = ["TrainConfig", "TrainResult", "train", "build_segmenter", "lr_factor"]

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything a run needs (the CLI flags; see ``lisa-train --help``)."""

    out: str
    model: str | None = None
    init: str | None = None
    clip: str | None = None
    data: list[str] = field(default_factory=list)
    synth_seed: int | None = None
    synth_count: int | None = None
    synth_size: tuple[int, int] = (320, 240)
    families: list[str] | None = None
    limit: int | None = None
    mode: str = "lora"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_modules: tuple[str, ...] = OFFICIAL_LORA_MODULES
    steps: int = 500
    images_per_batch: int = 2
    grad_accum: int = 1
    conversations_per_image: int = 3
    extra_explicit: int = 0
    extra_absent: float = 0.0
    described_answers: float = 0.0
    extra_multi: float = 0.0
    extra_vqa: int = 0
    extra_checklist: int = 0
    # extra spatial / comparative conversations per image, asked of its layout (synthetic scenes;
    # train.data.layout_extras)
    extra_spatial: int = 0
    extra_comparative: int = 0
    stated_answers: float = 0.0
    absent_lead: str = ""
    data_workers: int = 0
    phrase_long_prob: float = 0.0
    max_length: int | None = None
    lr: float = 3e-4
    beta1: float = 0.9
    beta2: float = 0.95
    weight_decay: float = 0.0
    warmup: int = 100
    schedule: str = "linear"
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0
    ce_weight: float = 1.0
    bce_weight: float = 2.0
    dice_weight: float = 0.5
    # weight of the dense encoder supervision (train.dense_aux; from-scratch runs on synthetic
    # scenes; 0: the LISA objective only)
    dense_aux_weight: float = 0.0
    # weight of the prompt grounding loss (train.dense_aux.grounding_loss; from-scratch runs)
    grounding_aux_weight: float = 0.0
    # weight of the mask-decision loss (train.dense_aux.mask_decision_loss: will the answer hold
    # a [SEG]?; from-scratch runs, where absent targets are otherwise never learnt)
    decision_aux_weight: float = 0.0
    # weight of the image-token scale loss (train.dense_aux.image_token_scale_loss: keeps a
    # from-scratch CLIP's projected tokens small enough for the LLM to learn to read them)
    image_token_weight: float = 0.0
    # weight of the category presence loss (train.dense_aux.presence_aux_loss: does some cell of
    # each encoder say that a category is in the image?; from-scratch runs on synthetic scenes)
    presence_aux_weight: float = 0.0
    # weight of the look-up loss (train.lookup_aux: one attention head of the LLM, at the state
    # that picks the first answer token, is told to look at the targets' image tokens, or at the
    # first position when the target is absent); its layer (None: the middle one) and head
    lookup_aux_weight: float = 0.0
    lookup_aux_layer: int | None = None
    lookup_aux_head: int = 0
    # weight of the box / point prompt mask loss (train.prompt_aux: SAM's own training signal on
    # up to sam_prompt_objects objects per image; from-scratch runs on synthetic scenes)
    sam_prompt_weight: float = 0.0
    sam_prompt_objects: int = 4
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    grad_checkpointing: bool = False
    share_prefix: bool = True
    seed: int = 0
    save_every: int = 0
    log_every: int = 10
    val: str | None = None
    val_limit: int = 64
    val_every: int = 0
    val_mode: str = "teacher-forced"
    llm_dtype: str = "bf16"
    sam_dtype: str = "fp32"
    clip_dtype: str = "fp32"
    safetensors: bool = False
    time_budget: float | None = None
    processes: int = 1
    resume: bool = False
    stop_after: int | None = None
    progress: bool = True

    def lora_settings(self) -> LoraSettings:
        return LoraSettings(self.lora_r, self.lora_alpha, self.lora_dropout, tuple(self.lora_modules))

    def loss_weights(self) -> LossWeights:
        return LossWeights(self.ce_weight, self.bce_weight, self.dice_weight)

    def layout_extras(self) -> dict[str, int]:
        """``--extra-<family>`` per family asked of every scene's layout (``extra_spatial``, ...)."""
        from lisa_ros.data.synth.families import LAYOUT_FAMILIES

        return {family: getattr(self, f"extra_{family}") for family in LAYOUT_FAMILIES}

    def aux_weights(self) -> dict[str, float]:
        """The auxiliary terms in use (weight > 0), by the name their value is logged under."""
        weights = {"aux": self.dense_aux_weight, "grounding": self.grounding_aux_weight,
                   "decision": self.decision_aux_weight, "image_tokens": self.image_token_weight,
                   "presence": self.presence_aux_weight, "lookup": self.lookup_aux_weight,
                   "sam_prompt": self.sam_prompt_weight}
        return {name: weight for name, weight in weights.items() if weight > 0}


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


def lr_factor(
    step: int, total: int, warmup: int, schedule: str = "linear", min_ratio: float = 0.0, time_progress: float | None = None
) -> float:
    """Multiplier of the peak lr for optimizer step ``step`` (0-based).

    Linear warmup from 0 over ``warmup`` steps (DeepSpeed ``WarmupDecayLR`` style), then
    linear or cosine decay to ``min_ratio`` at ``total``. ``time_progress`` (share of a time
    budget used, for ``--time-budget`` runs) advances the decay when it is ahead of the steps.
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    if time_progress is not None:
        progress = min(1.0, max(progress, time_progress))
    if schedule == "cosine":
        decay = 0.5 * (1.0 + math.cos(math.pi * progress))
    elif schedule == "linear":
        decay = 1.0 - progress
    elif schedule == "constant":
        decay = 1.0
    else:
        raise ValueError(f"unknown schedule {schedule!r}")
    return min_ratio + (1.0 - min_ratio) * decay


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@dataclass
class _Setup:
    model: object
    tokenizer: object
    config: object
    clip_preprocess: object
    tokenizer_folder: Path
    clip_source: Path | None
    write_clip: bool


def _build(cfg: TrainConfig, out: Path, autocast: bool, main: bool = True) -> _Setup:
    """The model to train, from an init spec or a checkpoint."""
    if cfg.init:
        from .init_spec import build_from_spec, load_init_spec

        spec = load_init_spec(cfg.init)
        tokenizer_folder = out / "tokenizer"
        if cfg.resume and (tokenizer_folder / "tokenizer.model").is_file() and not isinstance(spec.data.get("tokenizer"), str):
            spec.data["tokenizer"] = str(tokenizer_folder.resolve())
        model, tokenizer, clip_pre, tokenizer_folder = build_from_spec(spec, tokenizer_folder)
        if main:
            (out / "init_spec.json").write_text(spec.to_json() + "\n", encoding="utf-8")
        return _Setup(model, tokenizer, model.config, clip_pre, tokenizer_folder, None, True)
    if not cfg.model:
        raise ValueError("give --model (a checkpoint to start from) or --init (a fresh model)")
    from lisa_ros.core.config import LisaConfig
    from lisa_ros.core.loading import load_lisa
    from lisa_ros.core.resolve import resolve_clip_path, resolve_model_path

    folder = resolve_model_path(cfg.model)
    config = LisaConfig.from_file(folder / "config.json")
    clip_folder = resolve_clip_path(cfg.clip, folder, config.vision_tower)
    frozen_dtype = torch.bfloat16 if autocast and cfg.mode == "lora" else torch.float32
    loaded = load_lisa(folder, clip_folder, dtype=frozen_dtype, device="cpu")
    relative_clip = not cfg.clip and not Path(config.vision_tower).is_absolute() and (folder / config.vision_tower).is_dir()
    return _Setup(
        loaded.model,
        loaded.tokenizer,
        loaded.config,
        loaded.clip_preprocess,
        folder,
        clip_folder if relative_clip and cfg.mode != "full" else None,
        cfg.mode == "full",
    )


def _source(cfg: TrainConfig):
    from .data import FolderSource, SynthSource

    left_out = [f"--extra-{family}" for family, count in cfg.layout_extras().items()
                if count > 0 and cfg.families and family not in cfg.families]
    if left_out:  # a base that must never see a family (bench/fewshot.py) would see it after all
        raise ValueError(f"{', '.join(left_out)} asks questions of a family that --families leaves out")
    sources = [FolderSource(folder, cfg.families, cfg.limit) for folder in cfg.data]
    if cfg.synth_seed is not None:
        sources.append(SynthSource(cfg.synth_seed, cfg.synth_count, cfg.families, cfg.synth_size))
    if not sources:
        raise ValueError("no training data: give --data FOLDER and/or --synth-seed")
    if len(sources) == 1:
        return sources[0]
    return _Concat(sources)


class _Concat:
    """Several finite sources back to back."""

    def __init__(self, sources):
        if any(len(s) >= 2**62 for s in sources):
            raise ValueError("an endless synthetic source cannot be mixed with folders: give --synth-count")
        self.sources = sources

    def __len__(self) -> int:
        return sum(len(s) for s in self.sources)

    def record(self, index: int):
        for source in self.sources:
            if index < len(source):
                return source.record(index)
            index -= len(source)
        raise IndexError(index)


def build_segmenter(model, tokenizer, config, clip_preprocess, device: str, max_new_tokens: int = 96):
    """A :class:`~lisa_ros.core.segmenter.LisaSegmenter` around an in-memory model (validation)."""
    from lisa_ros.core.loading import LoadedLisa, LoadReport
    from lisa_ros.core.segmenter import LisaSegmenter

    loaded = LoadedLisa(model, tokenizer, config, clip_preprocess, Path("."), Path("."), LoadReport())
    return LisaSegmenter(loaded, device=device, max_new_tokens=max_new_tokens, frame_cache_size=0)


def _cast_frozen(model, dtype) -> None:
    """Trainable parameters in fp32, frozen ones in ``dtype`` (CUDA memory saving)."""
    for param in model.parameters():
        param.data = param.data.to(torch.float32 if param.requires_grad else dtype)


def _validate(cfg: TrainConfig, setup: _Setup, device: str, autocast: bool) -> dict:
    from lisa_ros.eval.evaluate import evaluate_folder

    model = setup.model
    was_training = model.training
    model.eval()
    try:
        segmenter = build_segmenter(model, setup.tokenizer, setup.config, setup.clip_preprocess, device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            result = evaluate_folder(segmenter, cfg.val, mode=cfg.val_mode, limit=cfg.val_limit)
    finally:
        model.train(was_training)
    summary = result.summary
    return {
        "giou": summary["giou"],
        "ciou": summary["ciou"],
        "absent_correct_rate": summary["absent_correct_rate"],
        "families": {k: round(v["giou"], 4) for k, v in summary["families"].items()},
    }


class _Dist:
    """Data parallelism over ``world`` processes (gloo; CPU or one GPU each). Every rank
    computes its own micro-batches; gradients are averaged before clipping, so all ranks hold
    the same weights. With one process every method is a no-op."""

    def __init__(self, rank: int = 0, world: int = 1):
        self.rank = rank
        self.world = world

    @property
    def main(self) -> bool:
        return self.rank == 0

    def average_gradients(self, params: list) -> None:
        if self.world == 1:
            return
        import torch.distributed as dist

        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for param in params:
            count = param.numel()
            param.grad = flat[offset : offset + count].view_as(param).clone()
            offset += count

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        if self.world == 1:
            return values
        import torch.distributed as dist

        keys = sorted(values)
        tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64)
        dist.all_reduce(tensor)
        return {k: float(v) / self.world for k, v in zip(keys, tensor)}

    def any(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        import torch.distributed as dist

        tensor = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(tensor)
        return bool(tensor.item() > 0)

    def gather_rng(self) -> list:
        state = torch.get_rng_state()
        if self.world == 1:
            return [state]
        import torch.distributed as dist

        states = [None] * self.world
        dist.all_gather_object(states, state)
        return states

    def broadcast_parameters(self, model) -> None:
        """Every rank starts from rank 0's weights (trainable or not)."""
        if self.world == 1:
            return
        import torch.distributed as dist

        with torch.no_grad():
            for tensor in list(model.parameters()) + list(model.buffers()):
                dist.broadcast(tensor.data, src=0)

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()


def train(cfg: TrainConfig) -> TrainResult:
    """Run (or resume) a training run described by ``cfg``; returns where the model went.

    With ``cfg.processes > 1`` the run is data-parallel over that many local processes (each
    with ``cfg.threads`` threads and ``images_per_batch`` images per micro-batch); the returned
    result then carries no in-memory model.
    """
    if cfg.processes <= 1:
        return _train(cfg, _Dist())
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
        result = _train(cfg, _Dist(rank, cfg.processes))
        if rank == 0:
            (Path(cfg.out) / "result.json").write_text(json.dumps({
                "model_folder": str(result.model_folder), "steps": result.steps, "trainable": result.trainable,
                "last": result.last_losses, "validations": result.validations,
            }) + "\n", encoding="utf-8")
    finally:
        dist.destroy_process_group()


def _train(cfg: TrainConfig, dist: _Dist) -> TrainResult:
    from .batching import collate
    from .data import Prefetcher, TrainStream
    from .forward import lisa_loss

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = _resolve_device(cfg.device)
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
    if dist.main:
        setup = _build(cfg, out, autocast)
    dist.barrier()  # rank 0 may have trained the tokenizer the others then read
    if not dist.main:
        setup = _build(dataclasses_replace(cfg, resume=True) if cfg.init else cfg, out, autocast, main=False)
    model = setup.model
    counts = setup_trainable(model, cfg.mode, cfg.lora_settings())
    if state is not None:
        load_trainable_state_dict(model, state["trainable"])
    if autocast:
        _cast_frozen(model, torch.bfloat16)
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
    aux_heads = None
    aux_terms = list(cfg.aux_weights())
    # The look-up term needs only the sample's masks and an attention head the LLM already has, so
    # it also applies to LoRA fine-tuning; the others need heads trained with the model, or
    # synthetic labels, or parts that LoRA mode freezes.
    if any(name != "lookup" for name in aux_terms) and cfg.mode != "full":
        raise ValueError("--dense-aux-weight, --grounding-aux-weight, --decision-aux-weight, --presence-aux-weight, "
                         "--sam-prompt-weight and --image-token-weight are for from-scratch runs: they need --full")
    lookup_head = (resolve_lookup_head(model.config, cfg.lookup_aux_layer, cfg.lookup_aux_head)
                   if cfg.lookup_aux_weight > 0 else None)
    # the image-token, look-up and prompt terms need no head; every other term does
    if any(name not in ("image_tokens", "lookup", "sam_prompt") for name in aux_terms):
        from .dense_aux import DenseAuxHeads, load_heads

        aux_heads = DenseAuxHeads(model.config.hidden_size, model.config.out_dim).to(device)
        if state is not None and "dense_aux_heads" in state.get("extra", {}):
            fresh = load_heads(aux_heads, state["extra"]["dense_aux_heads"])
            if fresh and dist.main:
                log.info("auxiliary heads not in the saved state, starting fresh: %s", ", ".join(fresh))
        dist.broadcast_parameters(aux_heads)
        params += list(aux_heads.parameters())
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

    stream = TrainStream(_source(cfg), cfg.seed, cfg.conversations_per_image, cfg.phrase_long_prob, cfg.extra_explicit,
                         cfg.extra_absent, cfg.described_answers, cfg.extra_multi, cfg.extra_vqa,
                         dense_labels=cfg.dense_aux_weight > 0 or cfg.presence_aux_weight > 0,
                         extra_checklist=cfg.extra_checklist, stated_prob=cfg.stated_answers,
                         absent_lead=cfg.absent_lead,
                         object_prompts=cfg.sam_prompt_objects if cfg.sam_prompt_weight > 0 else 0,
                         extra_layout=cfg.layout_extras())
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
                       extra={"counts": counts, "processes": dist.world,
                              **({"dense_aux_heads": aux_heads.state_dict()} if aux_heads is not None else {})},
                       rank_rng=rank_rng if dist.world > 1 else None)
        dist.barrier()
        return folder

    def validate(step: int) -> None:
        if dist.main:
            record = {"step": step, **_validate(cfg, setup, device, autocast)}
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
            # every rank reports the same keys (dist.mean), the auxiliary terms included
            totals = dict.fromkeys(["loss", "ce", "bce", "dice", *aux_terms], 0.0)
            for micro in range(cfg.grad_accum):
                chunk = (step * cfg.grad_accum + micro) * dist.world + dist.rank
                position = chunk * cfg.images_per_batch
                items = prefetcher.items(position, cfg.images_per_batch)
                batch = collate(items, setup.tokenizer, setup.clip_preprocess, sam_size, use_start_end, cfg.max_length)
                batch.to(device)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                    parts = lisa_loss(model, batch, seg_id, weights, cfg.share_prefix, aux_heads, cfg.dense_aux_weight,
                                      cfg.grounding_aux_weight, cfg.decision_aux_weight, cfg.image_token_weight,
                                      cfg.presence_aux_weight, cfg.lookup_aux_weight, lookup_head,
                                      cfg.sam_prompt_weight)
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
