"""Pure Python + torch/OpenCV: everything that does not need ROS (DESIGN.md rule 1).

One folder per stage of the loop the product is about, plus a small shared layer:
capture/ (sweep -> auto-masks -> COCO dataset), training/ (dataset -> model bundle),
detection/ (bundle + frames -> instances), demo/ (rendered rig, playback, report), shared/.
"""
