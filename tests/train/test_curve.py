"""Loss curves and tables of a run log (lisa_ros.train.curve)."""

import json

from lisa_ros.train.curve import loss_table, plot_curve, read_log


def _write_log(path, with_grounding):
    with path.open("w") as out:
        for step in range(1, 7):
            record = {"step": step, "loss": 4.0 / step, "ce": 2.0 / step, "bce": 0.1, "dice": 0.9 - 0.1 * step}
            if with_grounding:
                record["grounding"] = 5.0 - 0.5 * step
            out.write(json.dumps(record) + "\n")
        out.write(json.dumps({"validation": {"step": 6, "giou": 0.4, "ciou": 0.3}}) + "\n")


def test_table_adds_the_auxiliary_terms_a_run_logged(tmp_path):
    _write_log(tmp_path / "aux.jsonl", True)
    steps, validations = read_log(tmp_path / "aux.jsonl")
    assert len(steps) == 6 and validations[0]["giou"] == 0.4
    table = loss_table(steps, every=3).splitlines()
    assert table[0] == "| steps | loss | CE | BCE | Dice | grounding |"
    assert table[2].startswith("| 1-3 |") and table[2].endswith("| 4.000 |")  # grounding mean of 4.5, 4, 3.5
    _write_log(tmp_path / "plain.jsonl", False)
    plain, _ = read_log(tmp_path / "plain.jsonl")
    assert loss_table(plain, every=3).splitlines()[0] == "| steps | loss | CE | BCE | Dice |"


def test_plot_writes_a_png_with_both_panels(tmp_path):
    import cv2

    _write_log(tmp_path / "aux.jsonl", True)
    steps, validations = read_log(tmp_path / "aux.jsonl")
    image = cv2.imread(str(plot_curve(steps, validations, tmp_path / "curve.png")))
    assert image.shape == (360 + 260, 900, 3)
