"""The blocking front ends of the node: the ``segment`` service and the ``reason_segment`` action.

Both put a request into the same pipeline as the ``instruction`` topic (same queue, same
order of results on ``result``) and wait for its outcome in an executor thread of the
reentrant ``requests`` callback group:

* ``segment`` (lisa_ros/srv/Segment): waits up to ``service_timeout`` seconds, then answers
  ERROR and stops the inference at its next token or stage;
* ``reason_segment`` (lisa_ros/action/ReasonSegment): relays the worker's stages as feedback
  and honours cancel requests. Goal end states: SUCCEEDED for OK / NO_TARGET, ABORTED for
  INVALID_INPUT / DROPPED / ERROR (the result says why), CANCELED when cancelled;
* ``stop_tracking`` (std_srvs/Trigger): ends continuous mode (:mod:`lisa_ros.node.tracking`);
  success false when nothing was tracked.
"""

from __future__ import annotations

from collections import deque

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from std_srvs.srv import Trigger

from lisa_ros.action import ReasonSegment
from lisa_ros.msg import SegmentationResult
from lisa_ros.srv import Segment

from . import conversions as conv

__all__ = ["RequestServers", "ACTION_POLL_S"]

R = SegmentationResult
ACTION_POLL_S = 0.05   # how often a running goal checks for cancellation and new stages


def _explicit_image(image):
    """The request's image, or None for the empty "use the camera" placeholder."""
    return None if conv.is_empty_image(image) else image


def _explicit_depth(request) -> dict:
    """``depth`` and ``camera_info`` of a service request or action goal for
    :meth:`Pipeline.submit`: both None when the depth is the empty placeholder (then the depth
    topics are used)."""
    depth = _explicit_image(request.depth)
    return {"depth": depth, "camera_info": request.camera_info if depth is not None else None}


class RequestServers:
    """The service and action server of one configured node.

    Args:
        node: the :class:`~lisa_ros.node.lisa_node.LisaNode` (its ``pipeline``, ``settings``,
            ``stats`` and ``is_active()`` are read per call: they change with the lifecycle).
        callback_group: a reentrant group (each pending call holds an executor thread).
    """

    def __init__(self, node, callback_group):
        self._node = node
        self.goals_accepted = 0  # reason_segment goals accepted since configure
        self._service = node.create_service(Segment, "segment", self._on_segment, callback_group=callback_group)
        self._stop_tracking = node.create_service(Trigger, "stop_tracking", self._on_stop_tracking,
                                                  callback_group=callback_group)
        self._action = ActionServer(
            node, ReasonSegment, "reason_segment", execute_callback=self._on_goal_execute,
            goal_callback=self._on_goal_request, cancel_callback=self._on_goal_cancel,
            callback_group=callback_group,
        )

    def destroy(self) -> None:
        if self._action is not None:
            self._action.destroy()
            self._action = None
        for service in (self._service, self._stop_tracking):
            if service is not None:
                self._node.destroy_service(service)
        self._service = self._stop_tracking = None

    # -- service -------------------------------------------------------------------------------

    def _on_segment(self, request: Segment.Request, response: Segment.Response) -> Segment.Response:
        node = self._node
        pipeline = node.pipeline
        if pipeline is None or not node.is_active():
            response.result = conv.status_result(
                R.DROPPED, f"node is not active (lifecycle state {node.stats.lifecycle})",
                None if conv.is_empty_image(request.image) else request.image.header, "", request.instruction,
            )
            return response
        req = pipeline.submit("service", request.instruction, image=_explicit_image(request.image),
                              **_explicit_depth(request))
        timeout = node.settings.service_timeout
        if not req.wait(timeout):
            pipeline.expire(req, f"timed out after service_timeout = {timeout:g} s waiting for the model")
        response.result = req.outgoing.result if req.outgoing is not None else conv.status_result(
            R.DROPPED, "cancelled", None, req.request_id, req.instruction)
        return response

    def _on_stop_tracking(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        pipeline = self._node.pipeline
        stopped = pipeline.tracker.stop("stop_tracking service") if pipeline is not None else None
        response.success = stopped is not None
        response.message = (f"stopped tracking request {stopped}" if stopped is not None
                            else "nothing was being tracked")
        return response

    # -- action --------------------------------------------------------------------------------

    def _on_goal_request(self, goal) -> GoalResponse:
        node = self._node
        if not (node.is_active() and node.pipeline is not None):
            return GoalResponse.REJECT
        self.goals_accepted += 1
        return GoalResponse.ACCEPT

    def _on_goal_cancel(self, goal_handle) -> CancelResponse:
        return CancelResponse.ACCEPT

    def _on_goal_execute(self, goal_handle):
        """Queue the goal, relay the worker's stages as feedback, honour cancel requests."""
        goal = goal_handle.request
        stages: deque[str] = deque(maxlen=16)
        pipeline = self._node.pipeline
        if pipeline is None:
            goal_handle.abort()
            return ReasonSegment.Result(result=conv.status_result(R.DROPPED, "node is not active", None, "",
                                                                  goal.instruction))
        req = pipeline.submit("action", goal.instruction, image=_explicit_image(goal.image),
                              on_stage=stages.append, **_explicit_depth(goal))
        if not req.done:
            goal_handle.publish_feedback(ReasonSegment.Feedback(stage=ReasonSegment.Feedback.STAGE_QUEUED))
        while not req.wait(ACTION_POLL_S):
            while stages:
                goal_handle.publish_feedback(ReasonSegment.Feedback(stage=stages.popleft()))
            if goal_handle.is_cancel_requested and not req.cancel_requested:
                pipeline.cancel(req)
        while stages:
            goal_handle.publish_feedback(ReasonSegment.Feedback(stage=stages.popleft()))
        if req.outgoing is None:  # cancelled: nothing was published on `result`
            goal_handle.canceled()
            return ReasonSegment.Result(result=conv.status_result(
                R.DROPPED, "cancelled", None, req.request_id, req.instruction))
        result = req.outgoing.result
        if result.status in (R.OK, R.NO_TARGET):
            goal_handle.succeed()
        elif goal_handle.is_cancel_requested:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        return ReasonSegment.Result(result=result)
