"""Physical properties that make scene objects graspable rigid bodies (no MuJoCo here).

Perception scenes keep objects static (nothing moves, nothing can fall); manipulation needs them
free, with plausible masses and friction, so a gripper can only move them through real contacts.
Masses follow from a per-kind effective density over the primitive's volume: a mug or a box is
hollow, so its density is well below water's. A rolling resistance keeps a spherical apple from
wandering off on its own (a real apple is not a perfect sphere and does not roll away).
"""

from __future__ import annotations

from dataclasses import dataclass

from roborefer_ros.sim.spec import ObjectKind


@dataclass(frozen=True)
class ObjectPhysics:
    """Contact and inertia parameters of one object kind.

    ``density_kg_m3`` applies to every geom of the object (MuJoCo derives mass and inertia from
    it). ``friction``: MuJoCo's (sliding, torsional, rolling) coefficients; ``condim`` 6 enables
    all three, so the torsional and rolling terms act.
    """

    density_kg_m3: float
    friction: tuple[float, float, float] = (0.9, 0.005, 0.0005)
    condim: int = 6


# Small apple ~0.08 kg, small cup ~0.08 kg, small box ~0.04 kg, plate ~0.3 kg, cake ~0.3 kg.
OBJECT_PHYSICS: dict[ObjectKind, ObjectPhysics] = {
    ObjectKind.APPLE: ObjectPhysics(density_kg_m3=800.0, friction=(0.9, 0.005, 0.002)),
    ObjectKind.CUP: ObjectPhysics(density_kg_m3=400.0),
    ObjectKind.BOX: ObjectPhysics(density_kg_m3=300.0),
    ObjectKind.PLATE: ObjectPhysics(density_kg_m3=600.0),
    ObjectKind.CAKE: ObjectPhysics(density_kg_m3=500.0),
}
