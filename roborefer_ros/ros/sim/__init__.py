"""sim_node: the MuJoCo tabletop on the graph, its parameters and the simulated robots' drivers."""
