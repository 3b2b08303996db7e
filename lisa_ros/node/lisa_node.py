"""The ``lisa`` lifecycle node: LISA reasoning segmentation on camera images.

The node wires parts that each sit in their own module (docs/architecture.md):

* :mod:`.parameter_binding`: the parameter table declared and kept in :class:`~.pipeline.Settings`;
* :mod:`.inputs`: subscriptions (camera frames into :class:`~.frames.FrameStore`, instructions
  into the pipeline), created at activate;
* :mod:`.pipeline`: request intake, the one inference worker, results in arrival order;
* :mod:`.outputs`: the lifecycle publishers, created at configure;
* :mod:`.front_ends`: the ``segment`` service and ``reason_segment`` action;
* :mod:`.diagnostics`: ``/diagnostics``, always on;
* :mod:`.process`: the executor thread, signals and a bounded exit (``main``).

Lifecycle (rclpy.lifecycle): configure loads the model through the core, activate creates the
subscriptions, deactivate removes them (waiting requests are answered DROPPED), cleanup frees
the model (``LisaSegmenter.release``), shutdown works from any state and ends the process.
With ``autostart`` (default true) the node configures and activates itself once spinning.

Threads (a :class:`MultiThreadedExecutor`, callback groups chosen so nothing waits on the model):
``input`` (mutually exclusive: image and instruction callbacks), ``requests`` (reentrant: the
service and action block until answered, so the executor has a thread for every request that
can be pending), ``diagnostics`` (the timer), the default group (lifecycle services and the
autostart timer: transitions never overlap), and the pipeline's inference worker thread.
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
from typing import Callable

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.task import Future

from .depth_frames import DepthStore
from .diagnostics import NodeStats, build_status
from .frames import FrameStore
from .front_ends import RequestServers
from .inputs import NodeInputs
from .outputs import NodeOutputs
from .parameter_binding import ParameterBinding
from .parameters import MAX_QUEUE_LIMIT, PARAMS_BY_NAME, default_params_file, load_params_file
from .pipeline import Pipeline, Settings
from .process import run

__all__ = ["LisaNode", "load_segmenter", "main", "NODE_NAME", "EXECUTOR_THREADS"]

NODE_NAME = "lisa"
_RUNTIME_CORE_LIMITS = ("max_image_pixels", "max_instruction_chars", "prompt_suffix")
WORKER_STOP_S = 2.0    # how long deactivate/shutdown wait for the worker's next decode step or stage
RELEASE_WAIT_S = 60.0  # how long configure waits for the previous model to be released
EXECUTOR_THREADS = MAX_QUEUE_LIMIT + 1 + 4  # pending requests + input, diagnostics, lifecycle, spare

SegmenterFactory = Callable[[dict], object]


def load_segmenter(params: dict):
    """Load the model named by the node's parameters through the core (the default factory),
    with SAM's parts on the backends the parameters name."""
    from lisa_ros.core.segmenter import LisaSegmenter
    from lisa_ros.export.backends import attach_backends

    segmenter = LisaSegmenter.from_pretrained(
        params["model"],
        clip=params["clip"] or None,
        allow_download=params["allow_download"],
        revision=params["revision"] or None,
        clip_revision=params["clip_revision"] or None,
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
        self._param_binding = ParameterBinding(self, load_params_file(self.params_file, NODE_NAME),
                                            str(self.params_file), self._apply_parameters)
        self.settings = Settings(self._values())
        self.frames = FrameStore(self.settings.frame_buffer)
        self.depths = DepthStore(self.settings.depth_buffer)

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
        self.outputs: NodeOutputs | None = None
        self.servers: RequestServers | None = None
        self.inputs = NodeInputs(self, self.frames, self.depths, self.stats, self._on_instruction, self._input_group)
        self._active = False
        self._closing = False
        self._worker_alive = False
        self._transition_lock = threading.RLock()
        self._input_lock = threading.RLock()  # an instruction callback vs. the inputs' teardown
        self._releasing: threading.Thread | None = None  # a previous model still being released

        self._autostart_timer = None
        if self.get_parameter("autostart").value:
            # Default group: serialised with the lifecycle services.
            self._autostart_timer = self.create_timer(0.0, self._autostart)
        self.get_logger().info(
            f"lisa node started (id {self.start_id}, base parameters {self.params_file}, "
            f"autostart {'on' if self._autostart_timer else 'off'})"
        )

    # -- parameters --------------------------------------------------------------------------------

    def _values(self) -> dict:
        return self._param_binding.values()

    def _apply_parameters(self, values: dict) -> None:
        """Accepted changes: runtime values apply now; configure/activate ones are read at
        those transitions."""
        self.settings.update({k: v for k, v in values.items() if PARAMS_BY_NAME[k].applies == "runtime"})
        if "frame_buffer" in values:
            self.frames.resize(values["frame_buffer"])
        if "depth.buffer" in values:
            self.depths.resize(values["depth.buffer"])
        if "diagnostics_period" in values and self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(values["diagnostics_period"], self._publish_diagnostics,
                                                 callback_group=self._diag_group)
        if values.get("track") is False and self.pipeline is not None:
            self.pipeline.tracker.stop("parameter track set to false")
        segmenter = self.segmenter
        for name in _RUNTIME_CORE_LIMITS:
            if name in values and segmenter is not None and hasattr(segmenter, name):
                setattr(segmenter, name, values[name])
        for name in values:
            applies = PARAMS_BY_NAME[name].applies
            if applies in ("configure", "activate"):
                self.get_logger().info(f"parameter {name} takes effect at the next lifecycle {applies}")

    def is_active(self) -> bool:
        """Whether the node accepts requests (lifecycle active and not shutting down)."""
        return self._active

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
        if not self._previous_model_released():
            return TransitionCallbackReturn.FAILURE
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
        self.outputs = NodeOutputs(self, self.settings, self.get_logger().error, lambda: self._closing,
                                   on_unpublished=self._unpublished)
        self.pipeline = Pipeline(segmenter, self.settings, self.frames, self.outputs.publish,
                                 self.stats, self.start_id, wanted=self.outputs.wanted,
                                 warn=self.get_logger().warning, accepting=False, depths=self.depths)
        self.servers = RequestServers(self, self._request_group)
        self.stats.lifecycle = "inactive"
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # publishers first: nothing is answered into the void
        params = self._values()
        self.settings.update(params)  # "activate" values (e.g. depth.enabled) take effect now
        # Serving before the subscriptions exist: an instruction that arrives with them is queued.
        self._active = True
        self.pipeline.resume()
        described = self.inputs.create(params)
        self.stats.lifecycle = "active"
        self.get_logger().info(f"active: {described}")
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_serving("node deactivated")
        self.stats.lifecycle = "inactive"
        return super().on_deactivate(state)  # publishers last: every answer above went out

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown(release=True)
        self.stats.lifecycle = "unconfigured"
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._closing = True
        if self._active:
            self._stop_serving("node is shutting down")
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

    def _stop_serving(self, reason: str) -> None:
        """Answer every accepted request while the publishers are still active: the waiting
        ones DROPPED ``reason``, the running one stopped at its next decode step and answered
        so; then remove the subscriptions (an instruction that still arrives is answered
        DROPPED too)."""
        self._active = False
        if self.pipeline is not None:
            dropped = self.pipeline.interrupt(reason, WORKER_STOP_S)
            if dropped:
                self.get_logger().info(f"{dropped} requests answered DROPPED ({reason})")
        with self._input_lock:  # an instruction callback in flight has finished (and was answered)
            self.inputs.destroy()
        self.frames.clear()
        self.depths.clear()

    def _previous_model_released(self) -> bool:
        """Wait for a model whose release was deferred at cleanup (an inference that did not
        stop in time): two models must never be held at once."""
        releasing = self._releasing
        if releasing is None:
            return True
        self.get_logger().info("waiting for the previous model to be released")
        releasing.join(RELEASE_WAIT_S)
        if releasing.is_alive():
            self.get_logger().error(f"the previous model is still in use after {RELEASE_WAIT_S:g} s "
                                    "(an inference that does not stop); not loading another")
            return False
        self._releasing = None
        return True

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
                elif release:  # the worker is inside native code: release when it ends
                    self.get_logger().warning("inference still running; the model is released when it ends")
                    worker = pipeline.worker
                    self._releasing = threading.Thread(target=lambda: (worker.join(), _release(segmenter)),
                                                       name="lisa-release", daemon=True)
                    self._releasing.start()
            self._worker_alive = not stopped
            if self.servers is not None:
                self.servers.destroy()
                self.servers = None
            if self.outputs is not None:
                self.outputs.destroy()
                self.outputs = None
            self.frames.clear()
            if self.stats.model_state == "ready":
                self.stats.model_state = "unconfigured"

    def close(self) -> bool:
        """Tear everything down without lifecycle services (Ctrl-C, process exit). Returns True
        when no inference thread is left running."""
        self._closing = True
        self._active = False
        with self._input_lock:
            self.inputs.destroy()
        self._teardown(release=False)
        if not self.finished.done():
            self.finished.set_result(True)
        return not getattr(self, "_worker_alive", False)

    # -- intake and diagnostics --------------------------------------------------------------------

    def _on_instruction(self, text: str) -> None:
        """Every instruction gets one answer: queued while serving, DROPPED with the reason
        otherwise (the pipeline decides, under its intake lock)."""
        with self._input_lock:
            pipeline = self.pipeline
            if pipeline is None:  # subscriptions exist only while configured; defensive
                self.get_logger().warning(f"instruction {text[:80]!r} arrived while unconfigured; not answered")
                return
            pipeline.submit("topic", text)

    def _unpublished(self, request) -> None:
        self.stats.unpublished += 1
        if request.source == "topic":
            self.get_logger().warning(f"result {request.request_id} could not be published: the node is inactive")

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
            frames_received=self.frames.received, hardware_id=device, depth_received=self.depths.received,
            extra=(pipeline.tracker.snapshot(time.monotonic(), self.frames.latest()) if pipeline is not None
                   else {"tracking": "off"}),
            node_name=self.get_fully_qualified_name().lstrip("/"),  # several lisa nodes: one status each
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        try:
            self._diag_pub.publish(array)
        except Exception:  # noqa: BLE001 - context going away during shutdown
            pass


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


def main(args=None) -> int:
    """``lisa_node`` / ``ros2 run lisa_ros lisa_node``: run the node until Ctrl-C, SIGTERM or a
    lifecycle shutdown (:func:`lisa_ros.node.process.run`: pending requests are answered
    DROPPED "node is shutting down" while the middleware still works, and the process exits
    within a few seconds even when a long generation is still running)."""
    return run(LisaNode, EXECUTOR_THREADS, args)


if __name__ == "__main__":
    sys.exit(main())
