"""Markdown tables of ``bench/model_stages.py`` reports (stage table, official-flow comparison,
speed levers), and the machine line."""

from __future__ import annotations

import os
import platform

STAGES = ("preprocess", "clip", "sam_encoder", "prefill", "decode", "mask_decoder", "postprocess", "total")


def machine(device: str) -> str:
    if str(device).startswith("cuda"):
        import torch

        return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__})"
    import torch

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (torch {torch.__version__})"


def stage_table(report: dict) -> str:
    lines = [f"model: {report['model']}  device: {report['machine']}  date: {report['date']}", ""]
    configs = report["configurations"]
    names = ["preprocess", "clip", "sam_encoder", "prefill", "decode", "mask_decoder", "postprocess", "total"]
    lines.append("| stage (ms, median) | " + " | ".join(f"{c['precision']}/{c['quantization']}" for c in configs) + " |")
    lines.append("|---" * (len(configs) + 1) + "|")
    for name in names:
        lines.append(f"| {name} | " + " | ".join(str(c["stages_ms_median"].get(name)) for c in configs) + " |")
    for key, label in (
        ("decode_ms_per_token_median", "decode per token"),
        ("end_to_end_miss_ms_median", "end to end, new frame"),
        ("end_to_end_hit_ms_median", "end to end, same frame"),
        ("hit_over_miss_ratio", "same / new frame"),
        ("peak_memory_mb", "peak memory MB"),
    ):
        lines.append(f"| {label} | " + " | ".join(str(c.get(key)) for c in configs) + " |")
    first = configs[0].get("kv_cache_vs_official")
    if first:
        lines += ["", "| answer | new tokens | KV cache ms | official no-cache ms | speed-up |", "|---|---|---|---|---|"]
        for label in ("short", "long"):
            row = first[label]
            lines.append(
                f"| {label}, same frame (generation and masks) | {row['new_tokens']} | {row['kv_cache_ms_median']} | "
                f"{row['official_no_cache_ms_median']} | {row['speedup']}x |"
            )
        row = first["short_new_frame_end_to_end"]
        lines.append(
            f"| short, new frame (end to end) | {first['short']['new_tokens']} | {row['kv_cache_ms_median']} | "
            f"{row['official_no_cache_ms_median']} | {row['speedup']}x |"
        )
        lines.append(f"\nfree greedy decoding, same tokens on both paths: {first['free_greedy_same_tokens']}")
        static = first.get("static_graph_vs_dynamic_eager")
        if static:
            lines.append(
                f"decode step, static cache + CUDA graph vs dynamic cache eager: {static['graph_decode_ms_per_token_median']}"
                f" vs {static['eager_decode_ms_per_token_median']} ms/token ({static['speedup']}x); masks: max |logit diff| "
                f"{static['mask_logit_max_abs_diff']}, min IoU {static['mask_iou_min']}"
            )
    return "\n".join(lines)


def levers_table(levers: dict) -> str:
    """Markdown: one row per configuration."""
    header = ["configuration", "new frame ms", "vs before", "cached frame ms", "vs before",
              "CPU ms new / cached (vs before)", "LLM passes", *STAGES[:-1], "explanatory ms (passes)",
              "all guesses wrong: short / explanatory ms", "peak GPU MiB",
              "vs before: max logit diff / min IoU / same free tokens"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for name, row in levers.items():
        explanatory = row.get("explanatory")
        rejected = row.get("rejected_first")
        cells = [
            name, row["new_frame_ms"], row["new_frame_vs_before"], row["cached_frame_ms"],
            row["cached_frame_vs_before"],
            f"{row['new_frame_cpu_ms']} / {row['cached_frame_cpu_ms']} ({row['new_frame_cpu_vs_before']} / "
            f"{row['cached_frame_cpu_vs_before']})",
            row["llm_passes"], *(row["stages_ms"].get(s) for s in STAGES[:-1]),
            f"{explanatory['ms']} ({explanatory['llm_passes']})" if explanatory else "-",
            f"{rejected['short']['ms']} / {rejected.get('explanatory', {}).get('ms')}" if rejected else "-",
            row.get("peak_gpu_mb") or "-",
        ]
        outputs = row.get("vs_before_outputs")
        cells.append(" / ".join(str(outputs[k]) for k in ("mask_logit_max_abs_diff", "mask_iou_min",
                                                            "free_greedy_same_tokens")) if outputs else "-")
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)
