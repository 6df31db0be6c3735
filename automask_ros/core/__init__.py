"""Pure Python + torch/OpenCV: everything that does not need ROS (DESIGN.md rule 1)."""
