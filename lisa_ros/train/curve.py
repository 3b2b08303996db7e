"""Loss curves of a run (``RUN/log.jsonl``): a PNG drawn with OpenCV and a small markdown table.

Usage::

    python -m lisa_ros.train.curve RUN/log.jsonl docs/lisa_tiny_loss.png [--table-every 100]

The PNG has two panels: the training losses (total, CE, BCE, Dice, and the auxiliary terms of
from-scratch runs when logged; smoothed with an
exponential moving average of 0.9, raw values faint) against the step, and the validation
gIoU / cIoU recorded during the run, if any. The table (printed) averages each loss over
windows of ``--table-every`` steps.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

__all__ = ["read_log", "loss_table", "plot_curve", "main"]

_SERIES = (("loss", (40, 40, 40)), ("ce", (31, 119, 180)), ("bce", (214, 39, 40)), ("dice", (44, 160, 44)))
# the extra terms of from-scratch runs (lisa_ros.train.scratch.terms), drawn when every step logged them
_OPTIONAL_SERIES = (("grounding", (23, 190, 207)), ("aux", (140, 86, 75)), ("decision", (188, 189, 34)),
                    ("image_tokens", (127, 127, 127)), ("presence", (227, 119, 194)),
                    ("lookup", (255, 187, 120)), ("sam_prompt", (152, 223, 138)))
_VAL_SERIES = (("giou", (148, 103, 189)), ("ciou", (255, 127, 14)))


def _series(steps: list[dict]) -> tuple:
    """The loss parts to draw: LISA's, plus any auxiliary term that every step logged."""
    extra = tuple(item for item in _OPTIONAL_SERIES if steps and all(item[0] in r for r in steps))
    return _SERIES + extra


def read_log(path: str | Path) -> tuple[list[dict], list[dict]]:
    """(step records, validation records) of a ``log.jsonl``; a resumed run's repeats keep the last."""
    steps: dict[int, dict] = {}
    validations: dict[int, dict] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if "validation" in record:
            validations[int(record["validation"]["step"])] = record["validation"]
        else:
            steps[int(record["step"])] = record
    return [steps[k] for k in sorted(steps)], [validations[k] for k in sorted(validations)]


def loss_table(steps: list[dict], every: int = 100) -> str:
    """Markdown table: mean loss parts over windows of ``every`` steps."""
    names = [name for name, _ in _series(steps)]
    headers = {"loss": "loss", "ce": "CE", "bce": "BCE", "dice": "Dice"}
    lines = ["| steps | " + " | ".join(headers.get(n, n) for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for start in range(0, len(steps), every):
        window = steps[start : start + every]
        means = " | ".join(f"{float(np.mean([r[n] for r in window])):.3f}" for n in names)
        lines.append(f"| {window[0]['step']}-{window[-1]['step']} | {means} |")
    return "\n".join(lines)


def _ema(values: np.ndarray, decay: float = 0.9) -> np.ndarray:
    out = np.empty_like(values)
    acc = values[0]
    for index, value in enumerate(values):
        acc = decay * acc + (1 - decay) * value if index else value
        out[index] = acc
    return out


def _panel(width, height, x_max, y_max, title, x_label, y_label):
    import cv2

    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 60, 20, 30, 40
    cv2.rectangle(img, (left, top), (width - right, height - bottom), (0, 0, 0), 1)
    cv2.putText(img, title, (left, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, x_label, (width // 2 - 20, height - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                cv2.LINE_AA)
    for k in range(5):
        y_value = y_max * k / 4
        y = int(height - bottom - (height - top - bottom) * k / 4)
        cv2.line(img, (left - 4, y), (left, y), (0, 0, 0), 1)
        cv2.putText(img, f"{y_value:.2f}", (4, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
        x_value = x_max * k / 4
        x = int(left + (width - left - right) * k / 4)
        cv2.line(img, (x, height - bottom), (x, height - bottom + 4), (0, 0, 0), 1)
        cv2.putText(img, f"{x_value:.0f}", (x - 12, height - bottom + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                    (0, 0, 0), 1, cv2.LINE_AA)

    def to_px(x, y):
        px = left + (width - left - right) * np.asarray(x, float) / max(x_max, 1e-9)
        py = height - bottom - (height - top - bottom) * np.clip(np.asarray(y, float) / max(y_max, 1e-9), 0, 1)
        return np.stack([px, py], axis=-1).astype(np.int32)

    return img, to_px


def plot_curve(steps: list[dict], validations: list[dict], path: str | Path, title: str = "training") -> Path:
    """Write the two-panel PNG; returns its path."""
    import cv2

    x = np.array([r["step"] for r in steps], float)
    x_max = float(x.max()) if len(x) else 1.0
    series = _series(steps)
    smooth = {k: _ema(np.array([r[k] for r in steps], float)) for k, _ in series}
    y_max = float(np.percentile(smooth["loss"], 99)) * 1.05 if len(x) else 1.0
    top, to_px = _panel(900, 360, x_max, y_max, f"{title}: training losses (EMA 0.9)", "step", "")
    for name, colour in series:
        raw = to_px(x, np.array([r[name] for r in steps], float))
        faint = tuple(int(c + (255 - c) * 0.75) for c in colour)
        cv2.polylines(top, [raw], False, faint, 1, cv2.LINE_AA)
    for index, (name, colour) in enumerate(series):
        cv2.polylines(top, [to_px(x, smooth[name])], False, colour, 2, cv2.LINE_AA)
        cv2.putText(top, name, (760, 50 + 18 * index), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 2, cv2.LINE_AA)
    panels = [top]
    if validations:
        vx = np.array([v["step"] for v in validations], float)
        bottom, to_px2 = _panel(900, 260, x_max, 1.0, f"{title}: validation during training", "step", "")
        for index, (name, colour) in enumerate(_VAL_SERIES):
            points = to_px2(vx, np.array([v[name] for v in validations], float))
            cv2.polylines(bottom, [points], False, colour, 2, cv2.LINE_AA)
            for point in points:
                cv2.circle(bottom, tuple(int(v) for v in point), 4, colour, -1, cv2.LINE_AA)
            cv2.putText(bottom, name, (760, 50 + 18 * index), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 2, cv2.LINE_AA)
        panels.append(bottom)
    image = np.concatenate(panels, axis=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image[:, :, ::-1])
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="plot a lisa-train log.jsonl")
    p.add_argument("log")
    p.add_argument("png")
    p.add_argument("--title", default="lisa-train")
    p.add_argument("--table-every", type=int, default=100)
    args = p.parse_args(argv)
    steps, validations = read_log(args.log)
    plot_curve(steps, validations, args.png, args.title)
    print(loss_table(steps, args.table_every))
    for v in validations:
        print(f"validation step {v['step']}: gIoU {v['giou']:.3f} cIoU {v['ciou']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
