"""The simulated arms: one executor (``executor``) with per-robot rigs (``ur5e``, ``g1``), their
kinematics on the MuJoCo model, and ``make_sim_backend`` (``factory``) that picks a scene's rig."""
