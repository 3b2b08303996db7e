"""Datasets: the ReasonSeg on-disk format and the synthetic tabletop generator.

Modules (import them directly; nothing heavy is imported here):

- :mod:`lisa_ros.data.polygons`: labelme polygons <-> masks (the official ReasonSeg rasterisation).
- :mod:`lisa_ros.data.reasonseg`: read/write ReasonSeg-format folders (``xxx.jpg`` + ``xxx.json``).
- :mod:`lisa_ros.data.synth`: procedurally generated tabletop scenes with reasoning instructions.
- :mod:`lisa_ros.data.errors`: :class:`DatasetError`.
"""
