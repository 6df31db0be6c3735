"""Thin rclpy adapters: convert messages and parameters, call core/ (DESIGN.md rule 2)."""
