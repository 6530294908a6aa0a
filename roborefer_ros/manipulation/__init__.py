"""Pick and place from RefPoint targets: ROS-free step planning and manipulation backends."""
