"""Every accepted request gets exactly one answer whatever the lifecycle does, and a request
that is cancelled, timed out or deactivated stops within one decode step.

Over DDS with a node process: deactivation while requests wait and one runs; cancel and
service timeout of a long generation. In-process with the real node and manual control of
its executor or transitions, where a race must be made to happen every time: a goal accepted
just before deactivation, an instruction that arrives as the subscription appears or goes,
cleanup + configure while a generation runs.
"""
from __future__ import annotations

import os
import threading
import time

import pytest

from node_helpers import RosClient, NodeProcess, camera_scene, image_msg, node_params

pytestmark = pytest.mark.ros

OK, NO_TARGET, INVALID_INPUT, DROPPED, ERROR = range(5)


def client_wait(future, timeout: float = 30.0):
    """The result of a client-side future (the client spins in its own thread)."""
    assert _wait_until(future.done, timeout), "no answer from the node"
    return future.result()


def _wait_until(predicate, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


# -- over DDS ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_deactivate_during_inference_publishes_every_answer(tiny_model, subprocess_env, tmp_path):
    """Three topic instructions (the first running: it waits for the next frame), a service call
    and an action goal are pending when the node deactivates: each gets one DROPPED result on
    ``result`` (service and action callers also in their responses), and the node serves again
    after activation."""
    from lisa_ros.action import ReasonSegment

    node = NodeProcess(subprocess_env, node_params(tiny_model, pairing="next", pairing_timeout=60.0,
                                                   max_queue=8), tmp_path / "node.log")
    client = None
    try:
        node.wait_log("active:")
        client = RosClient(int(subprocess_env["ROS_DOMAIN_ID"]))
        client.wait_connected()
        frame = image_msg(camera_scene(), stamp=(7, 0))
        for text in ("topic 1", "topic 2", "topic 3"):
            client.instruct(text)
        service_answer = {}
        caller = threading.Thread(target=lambda: service_answer.update(r=client.segment_call("service", frame)))
        caller.start()
        assert client.action.wait_for_server(timeout_sec=30)
        goal = client.wait_future(client.action.send_goal_async(
            ReasonSegment.Goal(instruction="action", image=frame)))
        assert goal.accepted
        assert _wait_until(lambda: client.latest_diagnostics()["queue_depth"] == "5", 30, step=0.1)

        assert client.transition(4)  # deactivate
        results = client.results.wait_count(5, 30)
        assert sorted(r.instruction for r in results) == ["action", "service", "topic 1", "topic 2", "topic 3"]
        assert all(r.status == DROPPED and r.error == "node deactivated" for r in results), results
        caller.join(30)
        assert service_answer["r"].status == DROPPED
        outcome = client.wait_future(goal.get_result_async())
        assert outcome.status == 6 and outcome.result.result.status == DROPPED  # GoalStatus ABORTED
        time.sleep(1.5)
        assert len(client.results.msgs()) == 5  # exactly once

        assert client.transition(3)  # active again: serves
        client.wait_connected()
        client.clear()
        client.instruct("Where is the mug?")
        client.send_frame(frame)
        (result,) = client.results.wait_count(1, 60)
        assert result.status == OK and result.instruction == "Where is the mug?"
    finally:
        if client is not None:
            client.close()
        node.stop()


@pytest.mark.slow
def test_cancel_and_service_timeout_stop_a_long_generation(tiny_long_answers, subprocess_env, tmp_path):
    """A generation of 1500 tokens is measured whole, then cancelled (action) and timed out
    (service) once it runs: both leave the worker idle in a small part of the whole time (the
    worker stops within one decode step; before, it generated to the end)."""
    from lisa_ros.action import ReasonSegment

    node = NodeProcess(subprocess_env, node_params(tiny_long_answers, max_new_tokens=1500), tmp_path / "node.log")
    client = None
    try:
        node.wait_log("active:")
        client = RosClient(int(subprocess_env["ROS_DOMAIN_ID"]))
        client.wait_connected()
        frame = image_msg(camera_scene(), stamp=(8, 0))
        start = time.monotonic()
        whole = client.segment_call("anything", frame, timeout=300)
        full = time.monotonic() - start
        assert whole.status in (OK, NO_TARGET) and len(whole.answer) > 1500  # it ran to the limit

        stages = []
        assert client.action.wait_for_server(timeout_sec=30)
        goal = client.wait_future(client.action.send_goal_async(
            ReasonSegment.Goal(instruction="anything", image=frame),
            feedback_callback=lambda msg: stages.append(msg.feedback.stage)))
        assert _wait_until(lambda: "generating" in stages, 60)
        time.sleep(full / 10)
        start = time.monotonic()
        client.wait_future(goal.cancel_goal_async())
        outcome = client.wait_future(goal.get_result_async(), timeout=300)
        cancelled = time.monotonic() - start
        assert outcome.status == 5  # GoalStatus CANCELED
        assert cancelled < full / 3, (cancelled, full)

        client.set_parameters(service_timeout=full / 5)
        timed_out = client.segment_call("anything", frame, timeout=300)
        assert timed_out.status == ERROR and "service_timeout" in timed_out.error
        start = time.monotonic()
        assert _wait_until(lambda: client.latest_diagnostics()["queue_depth"] == "0", 300, step=0.1)
        assert time.monotonic() - start < full / 3, (time.monotonic() - start, full)
    finally:
        if client is not None:
            client.close()
        node.stop()


# -- in-process, races made deterministic -------------------------------------------------------

class _InProcess:
    """The real LisaNode in this process on its own context, plus a RosClient."""

    def __init__(self, params: dict, node_class=None, **node_kwargs):
        import rclpy
        from rclpy.parameter import Parameter

        from lisa_ros.node.lisa_node import LisaNode

        domain = int(os.environ["ROS_DOMAIN_ID"])
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        overrides = [Parameter(name, value=value) for name, value in {**params, "autostart": False}.items()]
        self.node = (node_class or LisaNode)(context=self.context, parameter_overrides=overrides, **node_kwargs)
        self.client = RosClient(domain, name="lisa_inprocess_client")

    def configure(self) -> None:
        from rclpy.lifecycle import TransitionCallbackReturn

        assert self.node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        result_pub = self.node.outputs._pubs["result"]
        assert _wait_until(lambda: result_pub.get_subscription_count() > 0, 30)  # the client listens

    def close(self) -> None:
        import rclpy

        self.client.close()
        self.node.close()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def test_goal_accepted_before_deactivation_is_answered_dropped(tiny_model):
    """The node's executor is spun by hand: the goal is accepted while active, the node
    deactivates, then the goal's execution starts. It must end ABORTED with DROPPED, not run."""
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn

    from lisa_ros.action import ReasonSegment

    world = _InProcess(node_params(tiny_model))
    executor = SingleThreadedExecutor(context=world.context)
    executor.add_node(world.node)
    try:
        world.configure()
        assert world.node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        action = world.client.action
        assert action.wait_for_server(timeout_sec=30)
        sent = action.send_goal_async(ReasonSegment.Goal(instruction="Where is the mug?",
                                                         image=image_msg(camera_scene(), stamp=(9, 0))))
        deadline = time.monotonic() + 30
        while world.node.servers.goals_accepted == 0 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)  # the spin that accepts it schedules its execution
        goal = client_wait(sent)
        assert goal.accepted

        assert world.node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        result = goal.get_result_async()
        deadline = time.monotonic() + 60
        while not result.done() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        outcome = result.result()
        assert outcome.status == 6, outcome  # GoalStatus ABORTED
        assert outcome.result.result.status == DROPPED and outcome.result.result.error == "node deactivated"
        assert world.node.stats.snapshot()["answered"]["OK"] == 0  # no inference ran
    finally:
        executor.shutdown()
        world.close()


def _eager_node_class(deliver_on: str):
    """A LisaNode whose instruction subscription receives one message the moment it is created
    (``deliver_on="create"``) or just before it is destroyed (``"destroy"``): what a publisher
    that keeps sending does to a node on a busy machine."""
    from std_msgs.msg import String

    from lisa_ros.node.lisa_node import LisaNode

    class EagerNode(LisaNode):
        def create_subscription(self, msg_type, topic, callback, *args, **kwargs):
            sub = super().create_subscription(msg_type, topic, callback, *args, **kwargs)
            if topic == "instruction":
                self.instruction_callback = callback
                if deliver_on == "create":
                    callback(String(data=f"arrived on {deliver_on}"))
            return sub

        def destroy_subscription(self, sub):
            if deliver_on == "destroy" and sub.topic_name.endswith("/instruction"):
                self.instruction_callback(String(data=f"arrived on {deliver_on}"))
            return super().destroy_subscription(sub)

    return EagerNode


@pytest.mark.parametrize("deliver_on, status, error", [("create", OK, ""), ("destroy", DROPPED, "node deactivated")])
def test_instruction_arriving_with_the_subscription_is_answered(tiny_model, deliver_on, status, error):
    """An instruction that arrives while the subscription is being created (activation) is
    served; one that arrives while it is being removed (deactivation) is answered DROPPED.
    Either way exactly one result is published."""
    from rclpy.lifecycle import TransitionCallbackReturn

    world = _InProcess(node_params(tiny_model), node_class=_eager_node_class(deliver_on))
    try:
        world.configure()
        world.node.frames.push(image_msg(camera_scene(), stamp=(10, 0)))
        assert world.node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        if deliver_on == "destroy":
            assert world.node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        world.client.results.wait_count(1, 60)
        time.sleep(1.0)
        results = world.client.results.msgs()
        assert [(r.instruction, r.status, r.error) for r in results] == [(f"arrived on {deliver_on}", status, error)]
    finally:
        world.close()


def test_cleanup_releases_the_model_before_configure_loads_again(tiny_long_answers):
    """cleanup + configure while a long generation runs: the generation stops, the old model is
    released, and only then is the new one loaded (never two models at once)."""
    from lisa_ros.node.lisa_node import load_segmenter

    events = []

    def factory(params):
        segmenter = load_segmenter(params)
        release = segmenter.release
        segmenter.release = lambda: (events.append("release"), release())
        events.append("load")
        return segmenter

    from rclpy.lifecycle import TransitionCallbackReturn

    world = _InProcess(node_params(tiny_long_answers, max_new_tokens=4000), segmenter_factory=factory)
    try:
        world.configure()
        assert world.node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        stages = []
        request = world.node.pipeline.submit("service", "anything", image=image_msg(camera_scene(), stamp=(11, 0)),
                                             on_stage=stages.append)
        assert _wait_until(lambda: "generating" in stages, 60)
        time.sleep(0.3)
        assert world.node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert request.done and request.outgoing.result.status == DROPPED
        assert world.node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert world.node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert events == ["load", "release", "load"]
    finally:
        world.close()
