"""refer_node: the RefPoint service and Refer action, their parameters, messages and outputs."""
