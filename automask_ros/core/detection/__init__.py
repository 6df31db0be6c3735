"""Stage 3, detection: a model bundle + camera frames -> instance masks, 3D positions, overlays."""
