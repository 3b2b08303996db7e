"""The ``lisa`` lifecycle node: LISA reasoning segmentation on camera images (design.md, "ROS
interface (fixed)").

Lifecycle (rclpy.lifecycle): configure loads the model through the core, activate creates the
image/instruction subscriptions, deactivate removes them (waiting requests are answered
DROPPED), cleanup frees the model (``LisaSegmenter.release``), shutdown works from any state
and ends the process. With ``autostart`` (default true) the node configures and activates
itself right after it starts spinning.

Threads (a :class:`MultiThreadedExecutor`, callback groups chosen so nothing waits on the model):

* ``input`` group (mutually exclusive): image / image/compressed / instruction callbacks. The
  image callback only stores a reference to the message (constant time); conversion happens
  when a request uses the frame.
* ``requests`` group (reentrant): the ``segment`` service and the ``reason_segment`` action.
  Their callbacks block until the worker has answered (the service up to ``service_timeout``),
  which is why this group is reentrant and the executor has a thread for every request that
  can be pending (``max_queue`` waiting + 1 running) plus the other groups.
* ``diagnostics`` group: the ``/diagnostics`` timer.
* the default group: lifecycle services and the autostart timer (transitions never overlap).
* one inference worker thread (:class:`~lisa_ros.node.pipeline.Pipeline`), fed by a bounded
  queue shared by the topic, the service and the action.

Parameters: :mod:`lisa_ros.node.parameters` (defaults in config/lisa.yaml).
"""

from __future__ import annotations

import gc
import os
import secrets
import signal
import sys
import threading
import time
from collections import deque
from typing import Callable

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterDescriptor, ParameterType, SetParametersResult
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rclpy.task import Future
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

from lisa_ros.action import ReasonSegment
from lisa_ros.msg import SegmentationResult
from lisa_ros.srv import Segment

from . import conversions as conv
from .diagnostics import NodeStats, build_status
from .frames import FrameStore
from .parameters import MAX_QUEUE_LIMIT, PARAMETERS, check_value, default_params_file, load_params_file
from .pipeline import Pipeline, Settings
from .requests import Outgoing, Request

__all__ = ["LisaNode", "load_segmenter", "main", "NODE_NAME"]

NODE_NAME = "lisa"
R = SegmentationResult

_ROS_TYPES = {
    str: ParameterType.PARAMETER_STRING,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    bool: ParameterType.PARAMETER_BOOL,
}
_RUNTIME_CORE_LIMITS = ("max_image_pixels", "max_instruction_chars", "prompt_suffix")
ACTION_POLL_S = 0.05   # how often a running goal checks for cancellation and new stages
WORKER_STOP_S = 2.0    # how long shutdown waits for the worker to reach a stage boundary
EXECUTOR_THREADS = MAX_QUEUE_LIMIT + 1 + 4  # pending requests + input, diagnostics, lifecycle, spare

SegmenterFactory = Callable[[dict], object]


def load_segmenter(params: dict):
    """Load the model named by the node's parameters through the core (the default factory)."""
    from lisa_ros.core.segmenter import LisaSegmenter
    from lisa_ros.export.backends import attach_backends

    segmenter = LisaSegmenter.from_pretrained(
        params["model"],
        clip=params["clip"] or None,
        precision=params["precision"],
        quantization=params["quantization"],
        device=params["device"],
        max_new_tokens=params["max_new_tokens"],
        max_image_pixels=params["max_image_pixels"],
        max_instruction_chars=params["max_instruction_chars"],
        prompt_suffix=params["prompt_suffix"],
    )
    return attach_backends(segmenter, decoder=params["decoder_backend"], encoder=params["encoder_backend"],
                           artifacts=params["export_dir"] or None)


class LisaNode(LifecycleNode):
    """The ``lisa`` node. ``segmenter_factory(params) -> segmenter`` replaces the model loader
    (benchmarks use a zero-cost stand-in); everything else is the real node."""

    def __init__(self, *, segmenter_factory: SegmenterFactory | None = None, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        self._segmenter_factory = segmenter_factory or load_segmenter
        self.stats = NodeStats()
        self.start_id = secrets.token_hex(3)
        self.finished: Future = Future()  # done once the node reached its end (shutdown)

        # -- parameters first (before any publisher or subscription) ---------------------------
        self.params_file = default_params_file()
        self._declare_parameters(load_params_file(self.params_file, NODE_NAME))
        self.settings = Settings(self._values())
        self.frames = FrameStore(self.settings.frame_buffer)

        # -- callback groups ---------------------------------------------------------------------
        self._input_group = MutuallyExclusiveCallbackGroup()
        self._request_group = ReentrantCallbackGroup()
        self._diag_group = MutuallyExclusiveCallbackGroup()

        # -- always there, whatever the lifecycle state: diagnostics ----------------------------
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(self.settings.diagnostics_period, self._publish_diagnostics,
                                             callback_group=self._diag_group)

        # created on configure / activate
        self.segmenter = None
        self.pipeline: Pipeline | None = None
        self._pubs: dict = {}
        self._service = None
        self._action = None
        self._subs: list = []
        self._active = False
        self._closing = False
        self._worker_alive = False
        self._transition_lock = threading.RLock()

        self.add_on_set_parameters_callback(self._on_set_parameters)
        # Post-set callbacks exist from Iron on; on Humble the on-set callback applies values.
        self._apply_in_on_set = not hasattr(self, "add_post_set_parameters_callback")
        if not self._apply_in_on_set:
            self.add_post_set_parameters_callback(self._after_set_parameters)

        self._autostart_timer = None
        if self.get_parameter("autostart").value:
            # Default group: serialised with the lifecycle services.
            self._autostart_timer = self.create_timer(0.0, self._autostart)
        self.get_logger().info(
            f"lisa node started (id {self.start_id}, base parameters {self.params_file}, "
            f"autostart {'on' if self._autostart_timer else 'off'})"
        )

    # -- parameters --------------------------------------------------------------------------------

    def _declare_parameters(self, base: dict) -> None:
        missing = [spec.name for spec in PARAMETERS if spec.name not in base]
        if missing:
            raise RuntimeError(f"{self.params_file} lacks parameters: {', '.join(missing)}")
        for spec in PARAMETERS:
            value = base[spec.name]
            if spec.type is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            reason = check_value(spec.name, value)
            if reason:
                raise RuntimeError(f"{self.params_file}: {reason}")
            descriptor = ParameterDescriptor(
                name=spec.name, type=_ROS_TYPES[spec.type],
                description=spec.description, additional_constraints=f"applies at {spec.applies}",
            )
            self.declare_parameter(spec.name, value, descriptor)
            # An override (params file, -p) is validated here, with the same checks.
            actual = self.get_parameter(spec.name).value
            reason = check_value(spec.name, actual)
            if reason:
                raise RuntimeError(f"invalid parameter: {reason}")

    def _values(self) -> dict:
        return {spec.name: self.get_parameter(spec.name).value for spec in PARAMETERS}

    def _on_set_parameters(self, params) -> SetParametersResult:
        for param in params:
            if param.name not in {spec.name for spec in PARAMETERS}:
                continue
            reason = check_value(param.name, param.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        if self._apply_in_on_set:
            self._after_set_parameters(params)
        return SetParametersResult(successful=True)

    def _after_set_parameters(self, params) -> None:
        by_name = {spec.name: spec for spec in PARAMETERS}
        values = {p.name: p.value for p in params if p.name in by_name}
        # Runtime values apply now; configure/activate ones are read at those transitions.
        self.settings.update({k: v for k, v in values.items() if by_name[k].applies == "runtime"})
        if "frame_buffer" in values:
            self.frames.resize(values["frame_buffer"])
        if "diagnostics_period" in values and self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(values["diagnostics_period"], self._publish_diagnostics,
                                                 callback_group=self._diag_group)
        segmenter = self.segmenter
        for name in _RUNTIME_CORE_LIMITS:
            if name in values and segmenter is not None and hasattr(segmenter, name):
                setattr(segmenter, name, values[name])
        for name in values:
            spec = by_name[name]
            if spec.applies in ("configure", "activate"):
                self.get_logger().info(f"parameter {name} takes effect at the next lifecycle {spec.applies}")

    # -- lifecycle ---------------------------------------------------------------------------------

    def _autostart(self) -> None:
        self.destroy_timer(self._autostart_timer)
        self._autostart_timer = None
        if self._closing:
            return
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            self.get_logger().error("autostart: configure failed; fix the parameters and configure again "
                                    "(lisa/change_state)")
            return
        if self.trigger_activate() != TransitionCallbackReturn.SUCCESS:
            self.get_logger().error("autostart: activate failed")

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        params = self._values()
        self.settings.update(params)
        self.stats.model_state, self.stats.model_error = "loading", ""
        self.stats.lifecycle = "configuring"
        self.get_logger().info(f"loading model {params['model']!r} (device {params['device']}, "
                               f"precision {params['precision']}, quantization {params['quantization']})")
        started = time.monotonic()
        try:
            segmenter = self._segmenter_factory(params)
        except Exception as exc:  # noqa: BLE001 - any load failure leaves the node unconfigured
            self.stats.model_state, self.stats.model_error = "error", f"{type(exc).__name__}: {exc}"
            self.stats.lifecycle = "unconfigured"
            self.get_logger().error(f"could not load model {params['model']!r}: {type(exc).__name__}: {exc}")
            return TransitionCallbackReturn.FAILURE
        if self._closing:  # shutdown arrived while loading
            _release(segmenter)
            return TransitionCallbackReturn.FAILURE
        self.segmenter = segmenter
        self.stats.model_state = "ready"
        self.get_logger().info(f"model loaded in {time.monotonic() - started:.1f} s "
                               f"(backends {getattr(segmenter, 'backend_names', {})})")
        self.pipeline = Pipeline(segmenter, self.settings, self.frames, self._publish_outgoing,
                                 self.stats, self.start_id, wanted=self._pictures_wanted,
                                 warn=self.get_logger().warning)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
        images = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
        self._pubs = {
            "result": self.create_lifecycle_publisher(SegmentationResult, "result", reliable),
            "mask": self.create_lifecycle_publisher(Image, "mask", images),
            "answer": self.create_lifecycle_publisher(String, "answer", reliable),
            "overlay": self.create_lifecycle_publisher(Image, "overlay", images),
        }
        self._service = self.create_service(Segment, "segment", self._on_segment,
                                            callback_group=self._request_group)
        self._action = ActionServer(
            self, ReasonSegment, "reason_segment", execute_callback=self._on_goal_execute,
            goal_callback=self._on_goal_request, cancel_callback=self._on_goal_cancel,
            callback_group=self._request_group,
        )
        self.stats.lifecycle = "inactive"
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        params = self._values()
        reliability = (ReliabilityPolicy.BEST_EFFORT if params["image_qos.reliability"] == "best_effort"
                       else ReliabilityPolicy.RELIABLE)
        image_qos = QoSProfile(depth=params["image_qos.depth"], reliability=reliability,
                               history=HistoryPolicy.KEEP_LAST)
        result = super().on_activate(state)  # publishers first: nothing is answered into the void
        if params["compressed"]:
            self._subs.append(self.create_subscription(CompressedImage, "image/compressed", self._on_image,
                                                       image_qos, callback_group=self._input_group))
        else:
            self._subs.append(self.create_subscription(Image, "image", self._on_image, image_qos,
                                                       callback_group=self._input_group))
        instruction_qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                                     history=HistoryPolicy.KEEP_LAST)
        self._subs.append(self.create_subscription(String, "instruction", self._on_instruction, instruction_qos,
                                                   callback_group=self._input_group))
        self._active = True
        self.stats.lifecycle = "active"
        self.get_logger().info(
            f"active: {'image/compressed' if params['compressed'] else 'image'} "
            f"({params['image_qos.reliability']}, depth {params['image_qos.depth']}), pairing {params['pairing']}"
        )
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_inputs("node deactivated")
        self.stats.lifecycle = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown(release=True)
        self.stats.lifecycle = "unconfigured"
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._closing = True
        if self._active:
            self._stop_inputs("node is shutting down")
            super().on_deactivate(state)
        self._teardown(release=False)
        self.stats.lifecycle = "finalized"
        result = super().on_shutdown(state)
        if not self.finished.done():
            self.finished.set_result(True)
        return result

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"lifecycle error in state {state.label}; cleaning up")
        self._active = False
        self._teardown(release=True)
        self.stats.lifecycle = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def _stop_inputs(self, reason: str) -> None:
        self._active = False
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        if self.pipeline is not None:
            dropped = self.pipeline.drain(reason)
            if dropped:
                self.get_logger().info(f"{dropped} waiting requests answered DROPPED ({reason})")
        self.frames.clear()

    def _teardown(self, release: bool) -> None:
        """Stop the worker, free the model, remove configure-time entities (idempotent)."""
        with self._transition_lock:
            pipeline, self.pipeline = self.pipeline, None
            segmenter, self.segmenter = self.segmenter, None
            stopped = True
            if pipeline is not None:
                stopped = pipeline.close(WORKER_STOP_S)
            if segmenter is not None:
                if stopped and release:
                    _release(segmenter)
                elif release:  # the worker is inside a long stage: release when it ends
                    self.get_logger().warning("inference still running; the model is released when it ends")
                    worker = pipeline.worker
                    threading.Thread(target=lambda: (worker.join(), _release(segmenter)), daemon=True).start()
            self._worker_alive = not stopped
            if self._action is not None:
                self._action.destroy()
                self._action = None
            if self._service is not None:
                self.destroy_service(self._service)
                self._service = None
            for pub in self._pubs.values():
                self.destroy_lifecycle_publisher(pub)
            self._pubs = {}
            self.frames.clear()
            if self.stats.model_state == "ready":
                self.stats.model_state = "unconfigured"

    def close(self) -> bool:
        """Tear everything down without lifecycle services (Ctrl-C, process exit). Returns True
        when no inference thread is left running."""
        self._closing = True
        self._active = False
        for sub in self._subs:
            try:
                self.destroy_subscription(sub)
            except Exception:  # noqa: BLE001 - best effort while the context goes away
                pass
        self._subs = []
        self._teardown(release=False)
        if not self.finished.done():
            self.finished.set_result(True)
        return not getattr(self, "_worker_alive", False)

    # -- inputs ------------------------------------------------------------------------------------

    def _on_image(self, msg) -> None:
        """Store the frame (constant time; converted when a request uses it)."""
        start = time.perf_counter()
        self.frames.push(msg)
        self.stats.callback_s.append(time.perf_counter() - start)

    def _on_instruction(self, msg: String) -> None:
        pipeline = self.pipeline
        if pipeline is None or not self._active:
            return
        pipeline.submit("topic", msg.data)

    # -- outputs -----------------------------------------------------------------------------------

    def _publish_outgoing(self, request: Request, out: Outgoing) -> None:
        """Results: called in arrival order by the pipeline's sequencer (worker or executor
        thread); pictures (``out.result`` None): from the worker right after their result."""
        pubs = self._pubs
        result_pub = pubs.get("result")
        if result_pub is None or not result_pub.is_activated:
            return
        try:
            if out.result is not None:
                out.result.latency_ms = float((time.monotonic() - request.received) * 1000.0)
                result_pub.publish(out.result)
            if out.mask is not None:
                pubs["mask"].publish(out.mask)
            if out.answer is not None:
                pubs["answer"].publish(String(data=out.answer))
            if out.overlay is not None and self.settings.publish_overlay:
                pubs["overlay"].publish(out.overlay)
        except Exception as exc:  # noqa: BLE001 - e.g. the context went away during shutdown
            if not self._closing:
                self.get_logger().error(f"could not publish result {request.request_id}: {exc}")

    def _pictures_wanted(self) -> tuple[bool, bool]:
        """(union mask, overlay): drawn only while someone subscribes (and overlay is enabled)."""
        pubs = self._pubs
        try:
            mask = pubs["mask"].get_subscription_count() > 0
            overlay = bool(self.settings.publish_overlay) and pubs["overlay"].get_subscription_count() > 0
        except Exception:  # noqa: BLE001 - publishers torn down meanwhile
            return False, False
        return mask, overlay

    def _publish_diagnostics(self) -> None:
        segmenter = self.segmenter
        pipeline = self.pipeline
        device = str(getattr(segmenter, "device", "")) or self.settings.device
        status = build_status(
            self.stats.snapshot(), model=self.settings.model, device=device,
            precision=_precision_of(segmenter, self.settings.precision),
            backends=dict(getattr(segmenter, "backend_names", {}) or {}),
            backend_warnings=list(getattr(segmenter, "backend_warnings", []) or []),
            queue_depth=len(pipeline.queue) + int(pipeline.busy) if pipeline is not None else 0,
            frames_received=self.frames.received, hardware_id=device,
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        try:
            self._diag_pub.publish(array)
        except Exception:  # noqa: BLE001 - context going away during shutdown
            pass

    # -- service -----------------------------------------------------------------------------------

    def _explicit_image(self, image: Image):
        return None if conv.is_empty_image(image) else image

    def _on_segment(self, request: Segment.Request, response: Segment.Response) -> Segment.Response:
        pipeline = self.pipeline
        if pipeline is None or not self._active:
            response.result = conv.status_result(
                R.DROPPED, f"node is not active (lifecycle state {self.stats.lifecycle})",
                None if conv.is_empty_image(request.image) else request.image.header, "", request.instruction,
            )
            return response
        req = pipeline.submit("service", request.instruction, image=self._explicit_image(request.image))
        timeout = self.settings.service_timeout
        if not req.wait(timeout):
            pipeline.expire(req, f"timed out after service_timeout = {timeout:g} s waiting for the model")
        response.result = req.outgoing.result if req.outgoing is not None else conv.status_result(
            R.DROPPED, "cancelled", None, req.request_id, req.instruction)
        return response

    # -- action ------------------------------------------------------------------------------------

    def _on_goal_request(self, goal) -> GoalResponse:
        return GoalResponse.ACCEPT if (self._active and self.pipeline is not None) else GoalResponse.REJECT

    def _on_goal_cancel(self, goal_handle) -> CancelResponse:
        return CancelResponse.ACCEPT

    def _on_goal_execute(self, goal_handle):
        """Queue the goal, relay the worker's stages as feedback, honour cancel requests.

        Goal end states: SUCCEEDED for OK / NO_TARGET, ABORTED for INVALID_INPUT / DROPPED /
        ERROR (the result says why), CANCELED when cancelled (nothing published on ``result``).
        """
        goal = goal_handle.request
        stages: deque[str] = deque(maxlen=16)
        pipeline = self.pipeline
        if pipeline is None:
            goal_handle.abort()
            return ReasonSegment.Result(result=conv.status_result(R.DROPPED, "node is not active", None, "",
                                                                  goal.instruction))
        req = pipeline.submit("action", goal.instruction, image=self._explicit_image(goal.image),
                              on_stage=stages.append)
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


def _release(segmenter) -> None:
    release = getattr(segmenter, "release", None)
    if release is not None:
        release()


def _precision_of(segmenter, requested: str) -> str:
    try:
        dtype = next(segmenter.model.parameters()).dtype
        return f"{requested} ({str(dtype).replace('torch.', '')})"
    except Exception:  # noqa: BLE001 - unconfigured, or a stand-in segmenter
        return requested


def _non_daemon_threads_left(timeout: float = 1.0) -> bool:
    """Whether threads that interpreter exit would wait for are still running after ``timeout``
    seconds (executor threads finishing their last callback are given that long)."""
    deadline = time.monotonic() + timeout
    main = threading.main_thread()
    for thread in threading.enumerate():
        if thread is not main and not thread.daemon and thread.is_alive():
            thread.join(max(0.0, deadline - time.monotonic()))
    return any(t.is_alive() and not t.daemon and t is not main for t in threading.enumerate())


def main(args=None) -> int:
    """``lisa_node`` / ``ros2 run lisa_ros lisa_node``: run the node until Ctrl-C, SIGTERM or a
    lifecycle shutdown.

    Shutdown is graceful and bounded: the node handles SIGINT/SIGTERM itself (rclpy's handler
    would invalidate the context first), so requests still pending are answered DROPPED "node
    is shutting down" while the middleware still works; the inference worker is stopped at the
    next model stage boundary, and the process exits within a few seconds even when a long
    generation is still running (the worker is a daemon thread).
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    node = None
    executor = None
    spinner = None
    code = 0
    clean = True
    try:
        node = LisaNode()
        executor = MultiThreadedExecutor(num_threads=EXECUTOR_THREADS)
        executor.add_node(node)
        spinner = threading.Thread(target=_spin, args=(executor, stop), name="lisa-executor", daemon=True)
        spinner.start()
        # The main thread only waits: Python runs signal handlers here, between waits.
        while not stop.is_set() and not node.finished.done():
            stop.wait(0.2)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:  # noqa: BLE001 - startup errors (parameters, config file)
        print(f"lisa_node: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if node is not None:
            clean = node.close()  # answers pending requests while the executor still spins
        if executor is not None:
            _shutdown_executor(executor)
        if spinner is not None:
            spinner.join(1.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    # Interpreter shutdown would garbage-collect the whole torch/transformers object graph
    # (seconds on a busy CPU); nothing there needs finalising.
    gc.freeze()
    if not clean or _non_daemon_threads_left():
        # A callback (e.g. a model load) or a generation is still inside native code; do not
        # let interpreter shutdown wait for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _shutdown_executor(executor) -> None:
    try:
        executor.shutdown(timeout_sec=1.0, wait_for_threads=False)
    except TypeError:  # rclpy before Jazzy: no wait_for_threads
        executor.shutdown(timeout_sec=1.0)


def _spin(executor, stop: threading.Event) -> None:
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        stop.set()  # the context went away (rclpy.shutdown elsewhere): end main too


if __name__ == "__main__":
    sys.exit(main())
