"""The small shared layer every stage uses: atomic files, cameras and depth, COCO masks, image codecs, frame sources, pairing, parameters, threads and rates."""
