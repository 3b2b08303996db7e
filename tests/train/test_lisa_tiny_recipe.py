"""The recorded lisa-tiny recipes (bench/lisa_tiny_reading.recipe, then bench/lisa_tiny.recipe) stay
valid lisa-train commands within issue 5's budget, and the few-shot bench's base training reads them
with its own overrides."""

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
READING = REPO / "bench" / "lisa_tiny_reading.recipe"
RECIPE = REPO / "bench" / "lisa_tiny.recipe"


def _fewshot():
    spec = importlib.util.spec_from_file_location("fewshot_bench", REPO / "bench" / "fewshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse(words):
    from lisa_ros.cli.train import build_parser, config_from_args

    assert "#" not in " ".join(words)
    return config_from_args(build_parser().parse_args(words + ["--out", "unused"]))


def test_the_two_stages_parse_into_a_from_scratch_run_within_the_budget():
    fewshot = _fewshot()
    reading = _parse(fewshot.read_recipe(READING))
    lisa = _parse(fewshot.read_recipe(RECIPE) + ["--model", "stage1/model"])
    # stage 1 builds the model and asks only text questions about the image; stage 2 continues it
    assert reading.init == "lisa-tiny" and reading.mode == "full" and reading.synth_seed == 9001
    assert reading.conversations_per_image == 0 and reading.extra_vqa > 0
    assert lisa.init is None and lisa.mode == "full" and lisa.synth_seed == 9001
    assert lisa.conversations_per_image > 0
    # issue 5: at most 60 minutes on this machine's 2 cores, both stages together
    assert reading.time_budget + lisa.time_budget <= 3600
    for cfg in (reading, lisa):
        assert cfg.processes * (cfg.threads or 1) <= 2


def test_train_script_runs_both_recipes_in_order():
    script = (REPO / "bench" / "train_lisa_tiny.sh").read_text(encoding="utf-8")
    assert 0 <= script.index("bench/lisa_tiny_reading.recipe") < script.index("bench/lisa_tiny.recipe)")


def test_scaling_script_scales_the_recipes_own_budgets():
    """bench/compute_scaling.sh's fraction 1 must be the shipped run: its budget constants are the
    recipes' own, and it gives the scaled budget after the recipe (the last value of a flag wins)."""
    import re

    fewshot = _fewshot()
    script = (REPO / "bench" / "compute_scaling.sh").read_text(encoding="utf-8")
    constants = {name: float(value) for name, value in re.findall(r"^(READING_BUDGET|LISA_BUDGET)=(\d+)", script, re.M)}
    assert constants == {"READING_BUDGET": _parse(fewshot.read_recipe(READING)).time_budget,
                         "LISA_BUDGET": _parse(fewshot.read_recipe(RECIPE) + ["--model", "m"]).time_budget}
    halved = _parse(fewshot.read_recipe(RECIPE) + ["--time-budget", "1380", "--model", "m"])
    assert halved.time_budget == 1380
    assert script.index("lisa_tiny_reading.recipe) --time-budget") < script.index("lisa_tiny.recipe) --time-budget")


def test_fewshot_base_overrides_folder_families_and_budget(tmp_path):
    reading, lisa = _fewshot().base_configs(READING, RECIPE, tmp_path / "base", ["explicit", "spatial"], 1200.0, 77)
    assert reading.out == str(tmp_path / "base" / "reading") and reading.init == "lisa-tiny"
    assert reading.synth_seed == 77
    assert lisa.model == str(tmp_path / "base" / "reading" / "model") and lisa.init is None
    assert lisa.out == str(tmp_path / "base")
    assert lisa.families == ["explicit", "spatial"] and lisa.synth_seed == 77
    # the recipe asks spatial and comparative questions of every scene: the left-out family is not asked
    recipe = _parse(_fewshot().read_recipe(RECIPE) + ["--model", "lisa-tiny"])
    assert recipe.extra_spatial > 0 and recipe.extra_comparative > 0
    assert lisa.extra_spatial == recipe.extra_spatial and lisa.extra_comparative == 0
    # the reading stage keeps its own budget; the second stage gets the rest
    assert reading.time_budget + lisa.time_budget == 1200.0


def test_fewshot_base_refuses_a_budget_the_reading_stage_would_use_up(tmp_path):
    with pytest.raises(ValueError, match="reading stage"):
        _fewshot().base_configs(READING, RECIPE, tmp_path / "base", ["explicit"], 300.0, 77)


def test_fewshot_base_without_a_reading_stage_is_the_recipe_alone(tmp_path):
    words = _fewshot().read_recipe(RECIPE) + ["--init", "lisa-tiny"]
    recipe = tmp_path / "one_stage.recipe"
    recipe.write_text("\n".join(words) + "\n", encoding="utf-8")
    (lisa,) = _fewshot().base_configs(None, recipe, tmp_path / "base", ["explicit"], 1200.0, 77)
    assert lisa.init == "lisa-tiny" and lisa.model is None and lisa.time_budget == 1200.0


def _families_in(folder):
    import json

    return [json.loads(path.read_text())["family"] for path in sorted(folder.glob("synth_*.json"))]


def test_fewshot_replay_mixes_the_other_families_worded_as_the_base_learnt_them(tmp_path):
    fewshot = _fewshot()
    family_folder, replay_folder = fewshot.fine_tuning_folders(tmp_path, "world_knowledge", 5150, 3, 9001, 14)
    assert _families_in(family_folder) == ["world_knowledge"] * 3
    # the replay holds every family the base knows, absent targets included, and never the adapted one
    replayed = _families_in(replay_folder)
    assert len(replayed) == 14 and "world_knowledge" not in replayed and "absent" in replayed
    args = fewshot._parser().parse_args(["--replay-count", "14"])
    cfg = fewshot.fine_tuning_config(args, "lisa-tiny", [family_folder, replay_folder], tmp_path / "adapted")
    assert cfg.data == [str(family_folder), str(replay_folder)] and cfg.mode == "lora"
    recipe = _parse(fewshot.read_recipe(RECIPE) + ["--model", "lisa-tiny"])
    assert recipe.absent_lead and cfg.absent_lead == recipe.absent_lead


def test_fewshot_without_replay_trains_on_the_family_alone(tmp_path):
    (family_folder,) = _fewshot().fine_tuning_folders(tmp_path, "spatial", 5150, 2, 9001, 0)
    assert _families_in(family_folder) == ["spatial"] * 2
