"""ROS-free evaluation: scores of referring results against ground truth, offline baselines."""
