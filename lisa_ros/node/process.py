"""Process-level plumbing of ``lisa_node``: the executor thread and a bounded exit.

The node handles SIGINT/SIGTERM itself (rclpy's handler would invalidate the context before
pending requests are answered); :func:`run` waits in the main thread, where Python runs signal
handlers, while a :class:`~rclpy.executors.MultiThreadedExecutor` spins in another thread.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.signals import SignalHandlerOptions

__all__ = ["run"]


def run(make_node: Callable[[], object], threads: int, args=None) -> int:
    """Start rclpy, spin ``make_node()`` until Ctrl-C, SIGTERM or the node's ``finished``
    future, then tear down within a few seconds. Returns the exit code (1 on a startup error).

    Shutdown is graceful and bounded: ``node.close()`` answers pending requests while the
    middleware still works; the process exits even when a generation is still inside native
    code (the worker is a daemon thread).
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    node = executor = spinner = None
    code = 0
    clean = True
    try:
        node = make_node()
        executor = MultiThreadedExecutor(num_threads=threads)
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


def _non_daemon_threads_left(timeout: float = 1.0) -> bool:
    """Whether threads that interpreter exit would wait for are still running after ``timeout``
    seconds (executor threads finishing their last callback are given that long)."""
    deadline = time.monotonic() + timeout
    main = threading.main_thread()
    for thread in threading.enumerate():
        if thread is not main and not thread.daemon and thread.is_alive():
            thread.join(max(0.0, deadline - time.monotonic()))
    return any(t.is_alive() and not t.daemon and t is not main for t in threading.enumerate())


def _shutdown_executor(executor) -> None:
    try:
        executor.shutdown(timeout_sec=1.0, wait_for_threads=False)
    except TypeError:  # rclpy before 7.6 (Humble 3.3, Jazzy 7.1): no wait_for_threads
        executor.shutdown(timeout_sec=1.0)


def _spin(executor, stop: threading.Event) -> None:
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        stop.set()  # the context went away (rclpy.shutdown elsewhere): end main too
