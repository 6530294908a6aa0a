"""pick_place_node: the PickPlace action, its parameters and messages, its manipulation backends."""
