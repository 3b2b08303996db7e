"""bench/probes/lookup_probe.py on a micro model: every probed request is counted once, on its side, and
the attention shares it reports are probabilities."""

import json

import numpy as np

from train_helpers import probe_module, train_config


def test_probe_counts_every_request_once(micro_spec, synth_folder, tmp_path):
    from lisa_ros.train.conversations import make_conversations
    from lisa_ros.train.loop import train
    from lisa_ros.train.scratch.extras import absent_extras, explicit_extras
    from lisa_ros.train.sources import SynthSource

    result = train(train_config(tmp_path / "run", micro_spec, synth_folder, steps=1))
    probe = probe_module("lookup_probe")
    out = tmp_path / "lookup.json"
    assert probe.main(["--model", str(result.model_folder), "--scenes", "4", "--seed", "11", "--threads", "1",
                       "--layer", "1", "--head", "3", "--json", str(out)]) == 0
    summary = json.loads(out.read_text())

    # the probe's own draws, replayed
    source, rng = SynthSource(11, size=(320, 240)), np.random.default_rng(11)
    present = absent = 0
    for index in range(4):
        record = source.record(index)
        conversations = (make_conversations(record, rng, 1) + explicit_extras(record, rng, 1)
                         + absent_extras(record, rng, 1.0))
        present += sum(1 for c in conversations if c.masks and any(m.any() for m in c.masks))
        absent += sum(1 for c in conversations if c.absent_target)
    assert (summary["present"], summary["absent"]) == (present, absent)
    assert present > 0 and absent > 0
    assert (summary["layer"], summary["head"]) == (1, 3)
    for key in ("first_position_present", "first_position_absent", "auc", "on_target", "target_token_share"):
        assert 0.0 <= summary[key] <= 1.0, key
    assert summary["target_token_share"] > 0
