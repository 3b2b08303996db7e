"""The recorded lisa-tiny recipe (bench/lisa_tiny.recipe) stays a valid lisa-train command, and
the few-shot bench's base training reads it with its own overrides."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "bench" / "lisa_tiny.recipe"


def _fewshot():
    spec = importlib.util.spec_from_file_location("fewshot_bench", REPO / "bench" / "fewshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recipe_parses_into_a_from_scratch_run_within_the_budget():
    from lisa_ros.cli.train import build_parser, config_from_args

    words = _fewshot().read_recipe(RECIPE)
    assert "#" not in " ".join(words)
    cfg = config_from_args(build_parser().parse_args(words + ["--out", "unused"]))
    assert cfg.init == "lisa-tiny" and cfg.mode == "full" and cfg.synth_seed == 9001
    # issue 5: at most 60 minutes on this machine's 2 cores
    assert cfg.time_budget <= 3600 and cfg.processes * (cfg.threads or 1) <= 2


def test_train_script_uses_the_recipe():
    script = (REPO / "bench" / "train_lisa_tiny.sh").read_text(encoding="utf-8")
    assert "bench/lisa_tiny.recipe" in script


def test_fewshot_base_overrides_folder_families_and_budget(tmp_path):
    cfg = _fewshot().base_config(RECIPE, tmp_path / "base", ["explicit", "spatial"], 1200.0, 77)
    assert cfg.out == str(tmp_path / "base")
    assert cfg.families == ["explicit", "spatial"]
    assert cfg.time_budget == 1200.0 and cfg.synth_seed == 77
    assert cfg.init == "lisa-tiny" and cfg.mode == "full"
