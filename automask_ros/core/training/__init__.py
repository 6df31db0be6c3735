"""Stage 2, training: sweep datasets -> augmented composites -> Mask R-CNN -> a model bundle."""
