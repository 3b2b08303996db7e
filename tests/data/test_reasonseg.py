"""Reading and writing ReasonSeg folders: official-style fixtures and our own format."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from lisa_ros.data.errors import DatasetError
from lisa_ros.data.reasonseg import (
    ReasonSegSample, iter_samples, list_sample_names, read_sample, write_sample,
)


def _expected_nested() -> np.ndarray:
    want = np.zeros((30, 40), np.uint8)
    want[2:26, 2:31] = 1
    want[8:16, 10:19] = 255
    want[10:14, 12:16] = 1
    return want


def _expected_float_points() -> np.ndarray:
    ys, xs = np.mgrid[0:30, 0:40]
    want = np.zeros((30, 40), np.uint8)
    want[(xs >= 5) & (ys >= 3) & ((xs - 5) + (ys - 3) <= 10)] = 1
    want[20:28, 0:7] = 255
    return want


def test_nested_polygons_largest_first_flag_skipped(reasonseg_fixtures):
    s = read_sample(reasonseg_fixtures / "val" / "nested_shapes.json")
    assert isinstance(s, ReasonSegSample)
    assert s.image.shape == (30, 40, 3) and s.image.dtype == np.uint8
    np.testing.assert_array_equal(s.mask, _expected_nested())
    assert s.texts == ["the object in the middle of the picture", "the thing at the centre"]
    assert s.is_sentence is False
    assert s.is_official and s.answer is None and s.family is None
    assert len(s.target_masks) == 1
    np.testing.assert_array_equal(s.target_masks[0], _expected_nested() == 1)
    np.testing.assert_array_equal(s.ignore_mask, _expected_nested() == 255)
    assert s.extra["imageWidth"] == 40 and s.extra["version"] == "4.5.6"


def test_float_points_truncated_and_labels_case_insensitive(reasonseg_fixtures):
    s = read_sample(reasonseg_fixtures / "val" / "float_points.jpg")  # by image path too
    np.testing.assert_array_equal(s.mask, _expected_float_points())
    assert s.is_sentence is True


def test_official_group_ids_still_make_one_target(reasonseg_fixtures):
    s = read_sample(reasonseg_fixtures / "train" / "two_parts")
    want = np.zeros((16, 32), bool)
    want[4:12, 3:10] = True
    want[5:10, 20:28] = True
    assert len(s.target_masks) == 1
    np.testing.assert_array_equal(s.target_masks[0], want)
    assert len(s.texts) == 3


def test_image_is_rgb(reasonseg_fixtures, tmp_path):
    import cv2
    img = np.zeros((8, 8, 3), np.uint8)
    img[..., 0] = 250  # red in RGB
    write_sample(tmp_path, "red", img, ["x"], False, [np.zeros((8, 8), bool)])
    s = read_sample(tmp_path / "red.json")
    assert s.image[..., 0].mean() > 200 and s.image[..., 2].mean() < 50
    bgr = cv2.imread(str(tmp_path / "red.jpg"))
    assert bgr[..., 2].mean() > 200


def test_iteration_sorted_with_limit(reasonseg_fixtures):
    names = [s.name for s in iter_samples(reasonseg_fixtures / "val")]
    assert names == ["float_points", "nested_shapes"]
    assert [s.name for s in iter_samples(reasonseg_fixtures / "val", limit=1)] == ["float_points"]
    assert list(iter_samples(reasonseg_fixtures / "val", limit=0)) == []


def test_files_starting_with_underscore_are_not_samples(tmp_path, reasonseg_fixtures):
    shutil.copytree(reasonseg_fixtures / "val", tmp_path / "val")
    (tmp_path / "val" / "_synth_manifest.json").write_text("{}")
    assert list_sample_names(tmp_path / "val") == ["float_points", "nested_shapes"]


def _copy(reasonseg_fixtures, tmp_path, name="nested_shapes"):
    for ext in (".jpg", ".json"):
        shutil.copy(reasonseg_fixtures / "val" / (name + ext), tmp_path / (name + ext))
    return tmp_path / (name + ".json")


def test_missing_image(tmp_path, reasonseg_fixtures):
    path = _copy(reasonseg_fixtures, tmp_path)
    path.with_suffix(".jpg").unlink()
    with pytest.raises(DatasetError, match="image file missing"):
        read_sample(path)
    with pytest.raises(DatasetError):
        list(iter_samples(tmp_path))


def test_missing_json(tmp_path, reasonseg_fixtures):
    path = _copy(reasonseg_fixtures, tmp_path)
    path.unlink()
    with pytest.raises(DatasetError, match="JSON file missing"):
        list(iter_samples(tmp_path))


@pytest.mark.parametrize("content, message", [
    ("{not json", "bad JSON"),
    ("[1, 2]", "top level"),
    ('{"text": ["a"], "is_sentence": false}', "missing key 'shapes'"),
    ('{"text": [], "is_sentence": false, "shapes": []}', "'text'"),
    ('{"text": ["a"], "is_sentence": "yes", "shapes": []}', "is_sentence"),
])
def test_bad_json(tmp_path, reasonseg_fixtures, content, message):
    path = _copy(reasonseg_fixtures, tmp_path)
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        read_sample(path)


def test_dataset_error_is_a_value_error_and_names_the_file(tmp_path, reasonseg_fixtures):
    path = _copy(reasonseg_fixtures, tmp_path)
    path.write_text("{")
    with pytest.raises(ValueError) as info:
        read_sample(path)
    assert "nested_shapes.json" in str(info.value)


def test_polygon_out_of_range(tmp_path, reasonseg_fixtures):
    path = _copy(reasonseg_fixtures, tmp_path)
    data = json.loads(path.read_text())
    data["shapes"][3]["points"] = [[2, 2], [80, 2], [80, 25]]  # image is 40 wide
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="out of range"):
        read_sample(path)


def test_cp1252_json_is_accepted(tmp_path, reasonseg_fixtures):
    path = _copy(reasonseg_fixtures, tmp_path)
    data = json.loads(path.read_text())
    data["text"] = ["the caf\u00e9 chair"]
    path.write_bytes(json.dumps(data, ensure_ascii=False).encode("cp1252"))
    assert read_sample(path).texts == ["the caf\u00e9 chair"]


def _our_sample(tmp_path, answer, n_masks=2, **kw):
    img = np.full((24, 32, 3), 90, np.uint8)
    masks = []
    for k in range(n_masks):
        m = np.zeros((24, 32), bool)
        m[2 + 10 * k:8 + 10 * k, 3:12 + 5 * k] = True
        masks.append(m)
    write_sample(tmp_path, "ours", img, ["a", "b"], True, masks, answer=answer,
                 extra={"family": "multi_target", "answers": ["alt [SEG] [SEG]"]}, **kw)
    return masks


def test_our_format_round_trip_per_seg_groups(tmp_path):
    masks = _our_sample(tmp_path, "The mug [SEG] and the apple [SEG].")
    s = read_sample(tmp_path / "ours.json")
    assert s.answer == "The mug [SEG] and the apple [SEG]." and s.family == "multi_target"
    assert s.answers == ["alt [SEG] [SEG]"] and not s.is_official
    assert len(s.target_masks) == 2
    for got, want in zip(s.target_masks, masks):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(s.mask == 1, masks[0] | masks[1])
    data = json.loads((tmp_path / "ours.json").read_text())
    assert {sh["group_id"] for sh in data["shapes"]} == {0, 1}


def test_writer_refuses_seg_count_mismatch(tmp_path):
    with pytest.raises(DatasetError, match="2 target masks"):
        _our_sample(tmp_path, "Only one [SEG].")


def test_reader_refuses_group_outside_the_answer(tmp_path):
    _our_sample(tmp_path, "[SEG] and [SEG].")
    path = tmp_path / "ours.json"
    data = json.loads(path.read_text())
    data["answer"] = "Just [SEG]."
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="group_id 1"):
        read_sample(path)


def test_reader_refuses_targets_without_seg(tmp_path):
    _our_sample(tmp_path, "[SEG].", n_masks=1)
    path = tmp_path / "ours.json"
    data = json.loads(path.read_text())
    data["answer"] = "There is no mug here."
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"\[SEG\]"):
        read_sample(path)


def test_no_target_answer_has_no_groups(tmp_path):
    img = np.zeros((10, 10, 3), np.uint8)
    write_sample(tmp_path, "none", img, ["the banana"], False, [],
                 answer="There is no banana in this image.")
    s = read_sample(tmp_path / "none.json")
    assert s.target_masks == [] and not s.mask.any()


def test_group_specific_ignore_applies_to_its_group_only(tmp_path):
    img = np.zeros((20, 20, 3), np.uint8)
    a = np.zeros((20, 20), bool)
    a[2:10, 2:10] = True
    b = np.zeros((20, 20), bool)
    b[12:18, 12:18] = True
    shadow_a = np.zeros((20, 20), bool)
    shadow_a[2:10, 10:14] = True
    write_sample(tmp_path, "ig", img, ["x"], True, [a, b], [shadow_a, None],
                 answer="[SEG] [SEG]")
    s = read_sample(tmp_path / "ig.json")
    np.testing.assert_array_equal(s.target_masks[0], a)
    np.testing.assert_array_equal(s.target_masks[1], b)
    np.testing.assert_array_equal(s.ignore_mask, shadow_a)
