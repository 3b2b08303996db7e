"""The parameter table (lisa_ros/node/parameters.py) against config/lisa.yaml, its checks, and
the node's declarations (descriptions, types, rejection of invalid values with a reason)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from lisa_ros.node import parameters as P

REPO = Path(__file__).resolve().parents[2]
YAML = REPO / "config" / "lisa.yaml"


def test_table_and_yaml_hold_the_same_names():
    values = P.load_params_file(YAML)
    table = {spec.name for spec in P.PARAMETERS}
    assert set(values) == table, (set(values) - table, table - set(values))


def test_yaml_values_pass_the_checks_with_the_table_types():
    for name, value in P.load_params_file(YAML).items():
        spec = P.PARAMS_BY_NAME[name]
        assert type(value) is spec.type, (name, value, spec.type)  # strict: 2.0 not 2 for floats
        assert P.check_value(name, value) is None, name


def test_every_row_is_documented():
    for spec in P.PARAMETERS:
        assert len(spec.description) > 20, spec.name
        assert spec.applies in ("configure", "activate", "runtime", "startup"), spec.name
        assert spec.type in (str, int, float, bool), spec.name


def test_issue_parameters_are_all_there():
    required = {"model", "clip", "precision", "quantization", "device", "max_new_tokens", "compressed",
                "image_qos.reliability", "image_qos.depth", "pairing", "pairing_timeout", "frame_buffer",
                "max_queue", "max_image_pixels", "max_instruction_chars", "publish_overlay", "decoder_backend",
                "encoder_backend", "export_dir", "prompt_suffix", "autostart", "max_frame_age",
                "diagnostics_period"}
    assert required <= set(P.PARAMS_BY_NAME)


@pytest.mark.parametrize("name, value, reason", [
    ("precision", "fp64", "precision must be one of auto, fp32, bf16, fp16"),
    ("quantization", "2bit", "must be one of none, 4bit, 8bit"),
    ("device", "tpu", "must be auto, cpu, cuda or cuda:N"),
    ("pairing", "oldest", "must be one of latest, next"),
    ("image_qos.reliability", "sometimes", "must be one of best_effort, reliable"),
    ("image_qos.depth", 0, "must be between 1 and 100"),
    ("max_queue", 0, "must be between 1 and 32"),
    ("max_queue", 33, "must be between 1 and 32"),
    ("pairing_timeout", 0.0, "must be greater than 0"),
    ("pairing_timeout", float("nan"), "must be greater than 0"),
    ("max_frame_age", -1.0, "must be 0 and at most"),
    ("max_new_tokens", 0, "must be between 1 and 4096"),
    ("model", "  ", "must not be empty"),
    ("max_queue", "4", "must be of type int"),
    ("compressed", 1, "must be of type bool"),
    ("max_queue", True, "must be of type int"),
    ("nonsense", 1, "unknown parameter"),
])
def test_invalid_values_are_rejected_with_a_reason(name, value, reason):
    message = P.check_value(name, value)
    assert message is not None and reason in message


def test_valid_values():
    for name, value in [("device", "cuda:1"), ("max_frame_age", 0.0), ("pairing_timeout", 2), ("max_queue", 32)]:
        assert P.check_value(name, value) is None


def test_default_params_file_search(monkeypatch, tmp_path):
    assert P.default_params_file() == YAML  # running from the checkout
    other = tmp_path / "mine.yaml"
    other.write_text(YAML.read_text())
    monkeypatch.setenv(P.PARAMS_FILE_ENV, str(other))
    assert P.default_params_file() == other
    monkeypatch.setenv(P.PARAMS_FILE_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError):
        P.default_params_file()


def test_params_file_sections(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({
        "/**": {"ros__parameters": {"model": "a", "image_qos": {"depth": 3}}},
        "lisa": {"ros__parameters": {"model": "b"}},
        "other_node": {"ros__parameters": {"model": "c"}},
    }))
    assert P.load_params_file(path) == {"model": "b", "image_qos.depth": 3}


@pytest.mark.ros
def test_node_declares_every_parameter_and_validates(repo_root):
    """The real LisaNode (autostart off: no model) declares the table with descriptions and
    rejects invalid runtime changes with the reason; runtime changes reach the pipeline settings."""
    import rclpy
    from rcl_interfaces.msg import ParameterType
    from rclpy.parameter import Parameter

    from lisa_ros.node.lisa_node import LisaNode

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(os.environ["ROS_DOMAIN_ID"]))
    try:
        node = LisaNode(context=context, parameter_overrides=[Parameter("autostart", value=False),
                                                              Parameter("max_queue", value=7)])
        try:
            names = [spec.name for spec in P.PARAMETERS]
            descriptors = node.describe_parameters(names)
            for spec, descriptor in zip(P.PARAMETERS, descriptors):
                assert descriptor.description == spec.description
                assert descriptor.type != ParameterType.PARAMETER_NOT_SET
            assert node.get_parameter("max_queue").value == 7  # override beats the YAML base
            assert node.get_parameter("pairing").value == "latest"  # YAML base
            result = node.set_parameters([Parameter("pairing", value="sideways")])[0]
            assert not result.successful and "pairing must be one of latest, next" in result.reason
            assert node.set_parameters([Parameter("pairing", value="next")])[0].successful
            assert node.settings.pairing == "next"
            assert node.set_parameters([Parameter("frame_buffer", value=3)])[0].successful
            for index in range(5):
                node.frames.push(index)
            assert len(node.frames) == 3
        finally:
            node.close()
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


@pytest.mark.ros
def test_partial_params_file_and_single_overrides(tmp_path):
    """A user params file with a few keys, plus -p: both win over the YAML base; the rest keeps
    the base values."""
    import rclpy

    from lisa_ros.node.lisa_node import LisaNode

    mine = tmp_path / "mine.yaml"
    mine.write_text("lisa:\n  ros__parameters:\n    pairing: next\n    image_qos:\n      depth: 3\n"
                    "    autostart: false\n")
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(os.environ["ROS_DOMAIN_ID"]))
    try:
        node = LisaNode(context=context, cli_args=["--ros-args", "--params-file", str(mine),
                                                   "-p", "max_queue:=9"])
        try:
            values = {spec.name: node.get_parameter(spec.name).value for spec in P.PARAMETERS}
            base = P.load_params_file(YAML)
            assert (values["pairing"], values["image_qos.depth"], values["max_queue"]) == ("next", 3, 9)
            assert values["autostart"] is False
            for name in set(base) - {"pairing", "image_qos.depth", "max_queue", "autostart"}:
                assert values[name] == base[name], name
        finally:
            node.close()
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


@pytest.mark.ros
def test_invalid_override_stops_startup_with_the_reason(tmp_path):
    import rclpy

    from lisa_ros.node.lisa_node import LisaNode

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(os.environ["ROS_DOMAIN_ID"]))
    try:
        with pytest.raises(RuntimeError, match="pairing must be one of latest, next"):
            LisaNode(context=context, cli_args=["--ros-args", "-p", "pairing:=sideways", "-p", "autostart:=false"])
    finally:
        rclpy.try_shutdown(context=context)


@pytest.mark.ros
@pytest.mark.parametrize("post_set", [True, False])
def test_binding_applies_changes_with_and_without_post_set_callbacks(post_set):
    """Both ways the binding applies accepted changes: through a post-set callback (rclpy 3.7+)
    and, as on Humble (rclpy 3.3 has none), from the on-set callback; rejected values are never
    applied either way."""
    import rclpy
    from rclpy.parameter import Parameter

    from lisa_ros.node.parameter_binding import ParameterBinding

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(os.environ["ROS_DOMAIN_ID"]))
    try:
        node = rclpy.create_node("binding_probe", context=context)
        try:
            applied = []
            ParameterBinding(node, P.load_params_file(YAML), str(YAML), applied.append, post_set=post_set)
            assert node.set_parameters([Parameter("max_queue", value=9)])[0].successful
            assert not node.set_parameters([Parameter("max_queue", value=0)])[0].successful
            assert applied == [{"max_queue": 9}]
            assert node.get_parameter("max_queue").value == 9
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


@pytest.mark.ros
def test_a_hub_id_missing_from_the_cache_fails_configure_without_downloading(monkeypatch, tmp_path):
    """allow_download is off by default: a hub-id-shaped model that is not cached fails
    configure with a message that names it and the parameter; no download is tried (the hub
    endpoint points at a closed port, so a try would be reported as a connection error)."""
    import rclpy
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from lisa_ros.node.lisa_node import LisaNode

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(os.environ["ROS_DOMAIN_ID"]))
    try:
        node = LisaNode(context=context, parameter_overrides=[
            Parameter("autostart", value=False), Parameter("model", value="someone/LISA-typo")])
        try:
            assert node.get_parameter("allow_download").value is False
            assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
            error = node.stats.snapshot()["model_error"]
            assert "someone/LISA-typo" in error and "allow_download" in error, error
            assert "connect" not in error.lower()
        finally:
            node.close()
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
