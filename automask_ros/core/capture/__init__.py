"""Stage 1, capture: a turntable sweep -> auto-masks (segmenters, turntable geometry, clean-up) -> a COCO sweep dataset."""
