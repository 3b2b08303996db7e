"""Binding the parameter table (:mod:`lisa_ros.node.parameters`) to a live node.

Every row is declared with its value from the base file (``config/lisa.yaml``) and a
descriptor, so overrides (params files, ``-p``, launch arguments) win over it and are checked
with the same rules; later changes (``ros2 param set``) are checked by the on-set callback and
applied by :meth:`ParameterBinding.apply` (``runtime`` values at once; ``configure`` /
``activate`` values at the next such transition, which reads them itself).
"""

from __future__ import annotations

from typing import Callable

from rcl_interfaces.msg import ParameterDescriptor, ParameterType, SetParametersResult

from .parameters import PARAMETERS, PARAMS_BY_NAME, check_value

__all__ = ["ParameterBinding"]

_ROS_TYPES = {
    str: ParameterType.PARAMETER_STRING,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    bool: ParameterType.PARAMETER_BOOL,
}


class ParameterBinding:
    """Declares the table on ``node`` and routes accepted changes to ``on_change(values)``.

    Args:
        node: an rclpy node.
        base: flattened values of the base parameter file (every row must be there).
        source: what ``base`` came from (for error messages).
        on_change: ``({name: value}) -> None`` for each accepted change (table rows only).
        post_set: apply changes in a post-set callback (rclpy 3.7+, Iron on) or, False, in the
            on-set callback itself (Humble's rclpy 3.3 has no post-set callbacks); None: the
            first where rclpy has it. Tests pass False to run Humble's path here.
    """

    def __init__(self, node, base: dict, source: str, on_change: Callable[[dict], None],
                 post_set: bool | None = None):
        self._node = node
        self._on_change = on_change
        self._declare(base, source)
        node.add_on_set_parameters_callback(self._on_set)
        if post_set is None:
            post_set = hasattr(node, "add_post_set_parameters_callback")
        self._apply_in_on_set = not post_set
        if not self._apply_in_on_set:
            node.add_post_set_parameters_callback(self._after_set)

    def _declare(self, base: dict, source: str) -> None:
        missing = [spec.name for spec in PARAMETERS if spec.name not in base]
        if missing:
            raise RuntimeError(f"{source} lacks parameters: {', '.join(missing)}")
        for spec in PARAMETERS:
            value = base[spec.name]
            if spec.type is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            reason = check_value(spec.name, value)
            if reason:
                raise RuntimeError(f"{source}: {reason}")
            descriptor = ParameterDescriptor(
                name=spec.name, type=_ROS_TYPES[spec.type],
                description=spec.description, additional_constraints=f"applies at {spec.applies}",
            )
            self._node.declare_parameter(spec.name, value, descriptor)
            # An override (params file, -p) is validated here, with the same checks.
            actual = self._node.get_parameter(spec.name).value
            reason = check_value(spec.name, actual)
            if reason:
                raise RuntimeError(f"invalid parameter: {reason}")

    def values(self) -> dict:
        """Every row's current value, by name."""
        return {spec.name: self._node.get_parameter(spec.name).value for spec in PARAMETERS}

    def _on_set(self, params) -> SetParametersResult:
        for param in params:
            if param.name not in PARAMS_BY_NAME:
                continue
            reason = check_value(param.name, param.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        if self._apply_in_on_set:
            self._after_set(params)
        return SetParametersResult(successful=True)

    def _after_set(self, params) -> None:
        values = {p.name: p.value for p in params if p.name in PARAMS_BY_NAME}
        if values:
            self._on_change(values)
