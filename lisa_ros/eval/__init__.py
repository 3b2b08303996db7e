"""Evaluation: gIoU / cIoU as LISA's official validation.

- :mod:`lisa_ros.eval.metrics`: per-mask IoU and the gIoU/cIoU accumulators.
- :mod:`lisa_ros.eval.evaluate`: run a model over a ReasonSeg-format folder (generate or
  teacher-forced mode), per-family results, absent-target rate.
- :mod:`lisa_ros.eval.worst`: the PNG grid of the worst cases.

The command line is ``lisa-eval`` (:mod:`lisa_ros.cli.eval`).
"""
