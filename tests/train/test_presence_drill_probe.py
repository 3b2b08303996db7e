"""bench/probes/presence_drill_probe.py on a micro model: every exist question and every checklist verdict
of the probed scenes is scored once, on the right side."""

import json

import numpy as np

from train_helpers import probe_module, train_config


def test_probe_scores_every_verdict_once(micro_spec, synth_folder, tmp_path):
    from lisa_ros.train.loop import train
    from lisa_ros.train.scratch.vqa import checklist_extras
    from lisa_ros.train.sources import SynthSource

    result = train(train_config(tmp_path / "run", micro_spec, synth_folder, steps=1))
    probe = probe_module("presence_drill_probe")
    out = tmp_path / "drill.json"
    assert probe.main(["--model", str(result.model_folder), "--scenes", "3", "--seed", "11", "--threads", "1",
                       "--json", str(out)]) == 0
    kinds = json.loads(out.read_text())["kinds"]

    # the probe's own draws, replayed: one exist pair and one checklist per scene
    source, rng = SynthSource(11, size=(320, 240)), np.random.default_rng(11)
    present = absent = 0
    for index in range(3):
        record = source.record(index)
        probe._exist_pair(record, rng)
        for conversation in checklist_extras(record, rng, 1):
            verdicts = conversation.answer.split(". ")
            absent += sum(v.rstrip(".").endswith("not here") for v in verdicts)
            present += sum(not v.rstrip(".").endswith("not here") for v in verdicts)
    assert (kinds["exist"]["present"], kinds["exist"]["absent"]) == (3, 3)
    assert (kinds["checklist"]["present"], kinds["checklist"]["absent"]) == (present, absent)
    for row in kinds.values():
        assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["auc"] <= 1.0
