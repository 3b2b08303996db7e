"""Synthetic datasets on disk: byte-level determinism, the reader round trip, the CLI."""
from __future__ import annotations

import json

import pytest

from lisa_ros.cli import synth as cli
from lisa_ros.data.reasonseg import iter_samples, list_sample_names
from lisa_ros.data.synth import FAMILIES, generate_dataset, render_scene
from lisa_ros.data.synth.writer import MANIFEST_NAME


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != MANIFEST_NAME}


def test_count_does_not_change_earlier_scenes_and_output_is_byte_identical(tmp_path):
    generate_dataset(tmp_path / "a", seed=3, count=3)
    generate_dataset(tmp_path / "b", seed=3, count=5)
    generate_dataset(tmp_path / "c", seed=3, count=2, start=3)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert len(a) == 6 and len(b) == 10
    assert all(b[name] == data for name, data in a.items())
    assert all(b[name] == data for name, data in c.items())


def test_other_seed_writes_other_files(tmp_path):
    generate_dataset(tmp_path / "a", seed=3, count=2)
    generate_dataset(tmp_path / "b", seed=4, count=2)
    a = [v for k, v in _files(tmp_path / "a").items() if k.endswith(".jpg")]
    b = [v for k, v in _files(tmp_path / "b").items() if k.endswith(".jpg")]
    assert not set(a) & set(b)


def test_written_samples_read_back(tmp_path):
    summary = generate_dataset(tmp_path, seed=9, count=16, split_name="val")
    assert summary.per_family == {f: 2 for f in FAMILIES}
    manifest = json.loads((tmp_path / "val" / MANIFEST_NAME).read_text())
    assert manifest["seed"] == 9 and manifest["count"] == 16
    samples = list(iter_samples(tmp_path / "val"))
    assert [s.name for s in samples] == [f"synth_s9_{i:06d}" for i in range(16)]
    for s in samples:
        ref = render_scene(9, s.extra["index"])
        assert s.family == ref.family and s.texts == ref.texts and s.answer == ref.answer
        assert s.is_sentence == ref.is_sentence and s.answers == ref.answers
        assert len(s.target_masks) == s.answer.count("[SEG]")
        for got, want in zip(s.target_masks, ref.target_masks):
            assert (got & want).sum() / (got | want).sum() > 0.9
        objects = s.extra["objects"]
        assert [o["category"] for o in objects] == [o.category for o in ref.objects]
        assert all(len(o["bbox"]) == 4 for o in objects)
        data = json.loads(s.json_path.read_text())
        targets = [sh for sh in data["shapes"] if sh["label"] == "target"]
        assert {sh["group_id"] for sh in targets} == set(range(len(s.target_masks)))
        if s.family == "absent":
            assert targets == [] and "[SEG]" not in s.answer
        assert s.image.shape == (240, 320, 3)


def test_workers_give_the_same_files(tmp_path):
    generate_dataset(tmp_path / "one", seed=2, count=50, workers=1)
    generate_dataset(tmp_path / "two", seed=2, count=50, workers=2)
    assert _files(tmp_path / "one") == _files(tmp_path / "two")


def test_cli_writes_a_split(tmp_path, capsys):
    rc = cli.main(["--seed", "5", "--count", "4", "--out", str(tmp_path), "--split-name", "train",
                   "--families", "spatial,absent", "--size", "160x120", "--quiet"])
    assert rc == 0
    names = list_sample_names(tmp_path / "train")
    assert names == [f"synth_s5_{i:06d}" for i in range(4)]
    out = capsys.readouterr().out
    assert "wrote 4 scenes" in out and "absent 2" in out and "spatial 2" in out
    s = next(iter_samples(tmp_path / "train"))
    assert s.image.shape == (120, 160, 3) and s.family == "spatial"


@pytest.mark.parametrize("args", [["--families", "nope"], ["--size", "big"],
                                  ["--size", "8x8"]])
def test_cli_rejects_bad_arguments(tmp_path, args):
    with pytest.raises(SystemExit) as info:
        cli.main(["--seed", "1", "--count", "1", "--out", str(tmp_path)] + args)
    assert info.value.code == 2
