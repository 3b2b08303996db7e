"""bench/probes/encoder_presence_probe.py on a micro run: it reads the run's dense heads and scores every
(scene, category) pair on both encoders; the shared probe command line passes its own option."""

import json
from dataclasses import replace

import pytest

from train_helpers import SCENE_SIZE, probe_module, train_config


def _probe_module():
    return probe_module("encoder_presence_probe")


def test_probe_scores_every_category_of_every_scene_from_the_runs_heads(micro_spec, synth_folder, tmp_path):
    from lisa_ros.data.synth.categories import CATEGORY_NAMES
    from lisa_ros.train.loop import train

    cfg = replace(train_config(tmp_path / "run", micro_spec, synth_folder, synth_seed=9, synth_size=SCENE_SIZE,
                               steps=2, conversations_per_image=0, dense_aux_weight=1.0), data=[])
    result = train(cfg)
    probe = _probe_module()
    out = tmp_path / "probe.json"
    assert probe.main(["--model", str(result.model_folder), "--state", str(tmp_path / "run" / "state.pt"),
                       "--scenes", "3", "--threads", "1", "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["present"] + record["absent"] == 3 * len(CATEGORY_NAMES) and record["present"] > 0
    for encoder in ("clip", "sam"):
        assert 0.0 <= record[f"{encoder}_auc"] <= 1.0
        assert 0.0 < record[f"{encoder}_mean_present"] < 1.0
    assert record["state"].endswith("state.pt") and record["model"] == str(result.model_folder)


def test_probe_refuses_a_state_without_dense_heads(micro_spec, synth_folder, tmp_path):
    from lisa_ros.train.loop import train

    result = train(train_config(tmp_path / "plain", micro_spec, synth_folder, steps=1))
    with pytest.raises(SystemExit, match="no dense heads"):
        _probe_module().main(["--model", str(result.model_folder), "--state", str(tmp_path / "plain" / "state.pt"),
                              "--scenes", "1", "--threads", "1"])
