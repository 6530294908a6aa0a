"""Pick-and-place episodes in simulation: one episode, the live simulation of sim_node, batches."""
