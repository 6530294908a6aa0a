"""Manipulation backends by name (the ``manipulation_backend`` parameter of pick_place_node).

A factory takes a ``BackendContext`` and returns a ``ManipulationBackend``. Built in:

- ``moveit``: ``moveit_backend.make_moveit_backend(context)`` (UR5 + move_group; in simulation,
  the UR5e cell's sim_move_group);
- ``g1``: ``g1_backend.make_g1_backend(context)`` (Unitree G1 arm_sdk bridge; in simulation,
  sim_node's G1 speaks the same unitree_hg topics);
- ``none``: nothing can move (dry runs only).

Each backend declares its own parameters on the node when it is chosen (``MOVEIT_PARAMETERS``,
``G1_PARAMETERS``). ``g1`` is imported when asked for; while its module is missing (or fails to
import) the node still starts and every goal that would move answers UNAVAILABLE with the
reason. Other backends plug in with ``register_backend``.
``BackendContext`` (ROS-free) is re-exported here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from roborefer_ros.manipulation.backend_context import BackendContext as BackendContext
from roborefer_ros.manipulation.steps import (
    ExecutionResult,
    ExecutionStatus,
    ManipulationBackend,
    StepCallback,
    StepPlan,
)

BackendFactory = Callable[[BackendContext], ManipulationBackend]


class UnavailableBackend:
    """A backend that cannot run here; says why from ``available()`` and ``execute()``."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def available(self) -> tuple[bool, str]:
        return False, self.reason

    def execute(
        self,
        plan: StepPlan,
        on_step: StepCallback | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> ExecutionResult:
        return ExecutionResult(ExecutionStatus.UNAVAILABLE, self.reason)


def lazy_backend(name: str, module: str, attribute: str) -> BackendFactory:
    """A factory that imports ``module.attribute`` when first asked (for ``register_backend``);
    an import failure becomes an UnavailableBackend saying why, so the node still starts."""

    def factory(context: BackendContext) -> ManipulationBackend:
        try:
            make = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as err:
            return UnavailableBackend(
                name, f"unavailable: {module}.{attribute} cannot be loaded ({err})"
            )
        backend: ManipulationBackend = make(context)
        return backend

    return factory


def _moveit(context: BackendContext) -> ManipulationBackend:
    from roborefer_ros.ros.pick_place.moveit_backend import make_moveit_backend

    return make_moveit_backend(context)


_FACTORIES: dict[str, BackendFactory] = {
    "moveit": _moveit,
    "g1": lazy_backend("g1", "roborefer_ros.ros.pick_place.g1_backend", "make_g1_backend"),
    "none": lambda _context: UnavailableBackend(
        "none", "unavailable: manipulation_backend is 'none' (dry runs only)"
    ),
}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Add or replace a backend factory (plug-ins, tests)."""
    _FACTORIES[name] = factory


def backend_names() -> tuple[str, ...]:
    return tuple(sorted(_FACTORIES))


def make_manipulation_backend(name: str, context: BackendContext) -> ManipulationBackend:
    """The named backend; ValueError naming the known ones for an unknown name."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ValueError(
            f"unknown manipulation_backend {name!r}; known: {', '.join(backend_names())}"
        ) from None
    return factory(context)
