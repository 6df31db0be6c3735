"""core/shared/coco.py: the one place for RLE, mask boxes, mask IoU, COCO ground truth/results and lookups."""

import json

import numpy as np
import pytest
import torch

from automask_ros.core.shared.coco import (annotation_to_mask, coco_dict, encode_rle, gt_annotation, index_by_image,
                                    mask_box, mask_iou, mask_to_annotation, masks_to_boxes, reference_iou,
                                    result_entry)
from automask_ros.core.capture.dataset import DatasetError, SweepWriter, load_sweep
from automask_ros.core.training.evaluate import gt_from_coco_file, score


def blob(h=40, w=50, box=(7, 5, 30, 22), hole=True):
    m = np.zeros((h, w), bool)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = True
    if hole:
        m[y0 + 2, x0 + 3] = False  # the RLE must keep it
    return m


def test_rle_round_trips_through_json_and_gives_box_and_area():
    mask = blob()
    ann = json.loads(json.dumps(mask_to_annotation(mask)))  # counts must be JSON text
    assert isinstance(ann["segmentation"]["counts"], str) and ann["segmentation"]["size"] == [40, 50]
    assert ann["bbox"] == [7.0, 5.0, 23.0, 17.0] and ann["area"] == mask.sum() and ann["iscrowd"] == 0
    assert np.array_equal(annotation_to_mask(ann, 40, 50), mask)
    assert np.array_equal(annotation_to_mask({"segmentation": encode_rle(mask.astype(np.uint8) * 255)}, 40, 50), mask)


def test_polygons_and_uncompressed_rle_decode_too():
    square = {"segmentation": [[10, 10, 20, 10, 20, 20, 10, 20]]}
    m = annotation_to_mask(square, 30, 30)
    assert mask_box(m)[:2] == (10, 10) and 90 <= m.sum() <= 121
    uncompressed = {"segmentation": {"size": [2, 3], "counts": [1, 3, 2]}}  # column-major runs: 0, 111, 00
    assert annotation_to_mask(uncompressed, 2, 3).tolist() == [[False, True, False], [True, True, False]]


def test_numpy_and_tensor_boxes_agree_and_end_exclusive():
    masks = [blob(box=(7, 5, 30, 22)), blob(box=(0, 0, 50, 40)), blob(box=(49, 39, 50, 40), hole=False)]
    boxes = masks_to_boxes(torch.from_numpy(np.stack(masks)).to(torch.uint8))
    assert boxes.dtype == torch.float32
    assert boxes.tolist() == [list(mask_box(m)) for m in masks] == [[7, 5, 30, 22], [0, 0, 50, 40], [49, 39, 50, 40]]
    assert masks_to_boxes(torch.zeros((0, 4, 4), dtype=torch.uint8)).shape == (0, 4)
    assert mask_box(np.zeros((4, 4), bool)) is None


def test_mask_iou_with_and_without_void():
    a, b = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    assert mask_iou(a, b) == 1.0  # nothing to find, nothing found
    a[0, :2] = True
    b[0, 1:3] = True
    assert mask_iou(a, b) == pytest.approx(1 / 3)
    void = np.zeros((4, 4), bool)
    void[0, 2] = True
    assert mask_iou(a, b, void) == pytest.approx(1 / 2)
    ref = np.zeros((4, 4), np.uint8)  # the shared data's reference images: 255 object, 128 void
    ref[0, 1:3] = 255
    ref[0, 2] = 128
    assert reference_iou(a, ref) == pytest.approx(1 / 2)


def test_results_take_the_model_box_or_the_mask_box():
    mask = blob()
    own = result_entry(3, 1, 0.9, mask)
    assert own["bbox"] == [7.0, 5.0, 23.0, 17.0] and own["image_id"] == 3 and own["score"] == 0.9
    given = result_entry(3, 1, 0.9, mask, box=(6.5, 4.0, 31.0, 23.5))
    assert given["bbox"] == [6.5, 4.0, 24.5, 19.5]


def test_ground_truth_and_results_score_with_pycocotools():
    masks = [blob(box=(7, 5, 30, 22)), blob(box=(20, 10, 45, 35))]
    images = [{"id": i + 1, "width": 50, "height": 40, "file_name": f"{i}.png"} for i in range(2)]
    anns = [gt_annotation(i + 1, i + 1, 1, m) for i, m in enumerate(masks)]
    gt = coco_dict(images, anns, ["mug"])
    perfect = [result_entry(i + 1, 1, 0.9, m) for i, m in enumerate(masks)]
    assert score(gt, perfect)["segm_AP"] == pytest.approx(1.0)
    swapped = [result_entry(2 - i, 1, 0.9, m) for i, m in enumerate(masks)]  # each on the other image
    assert score(gt, swapped)["segm_AP"] < 0.2


def test_index_by_image_and_sweep_lookups(tmp_path):
    assert index_by_image([{"image_id": 2, "id": 1}, {"image_id": 1, "id": 2}, {"image_id": 2, "id": 3}]) == \
        {2: [{"image_id": 2, "id": 1}, {"image_id": 2, "id": 3}], 1: [{"image_id": 1, "id": 2}]}
    writer = SweepWriter(tmp_path, "mug")
    rgb = np.zeros((40, 50, 3), np.uint8)
    writer.add_frame(rgb, blob(), angle_deg=0.0, source="a")
    writer.add_frame(rgb, None, source="negative")
    sweep = load_sweep(writer.finish())
    pos, neg = sweep.images
    assert len(sweep.annotations_for(pos["id"])) == 1 and sweep.annotations_for(neg["id"]) == []
    assert np.array_equal(sweep.mask(pos), blob())
    # an annotation added after the first lookup is seen: the index follows the list
    sweep.coco["annotations"].append({**sweep.coco["annotations"][0], "id": 99, "image_id": neg["id"]})
    assert [a["id"] for a in sweep.annotations_for(neg["id"])] == [99]


def test_coco_file_with_an_annotation_for_a_missing_image_is_one_clear_error(tmp_path):
    (tmp_path / "0.png").write_bytes(b"")
    data = coco_dict([{"id": 1, "width": 50, "height": 40, "file_name": "0.png"}],
                     [gt_annotation(1, 7, 1, blob())], ["mug"])
    (tmp_path / "gt.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="names image 7, which is not in its images list"):
        gt_from_coco_file(tmp_path / "gt.json", tmp_path, ["mug"])


def test_demo_truth_from_a_coco_file_takes_each_image_its_own_objects(tmp_path):
    from automask_ros.core.shared.atomic import atomic_write_image
    from automask_ros.core.demo.demo import TruthIndex
    masks = {1: [blob(box=(7, 5, 30, 22))], 2: [blob(box=(20, 10, 45, 35)), blob(box=(0, 0, 6, 6), hole=False)]}
    images, anns = [], []
    for image_id, objs in masks.items():
        rgb = np.full((40, 50, 3), 40 * image_id, np.uint8)
        atomic_write_image(tmp_path / f"{image_id}.png", rgb)
        images.append({"id": image_id, "width": 50, "height": 40, "file_name": f"{image_id}.png"})
        for m in objs:
            anns.append(gt_annotation(len(anns) + 1, image_id, 1, m))
    (tmp_path / "gt.json").write_text(json.dumps(coco_dict(images, anns[::-1], ["mug"])))
    truth = TruthIndex()
    assert truth.add_coco(tmp_path / "gt.json") == 2
    for image_id, objs in masks.items():
        ref = truth.lookup(np.full((40, 50, 3), 40 * image_id, np.uint8))
        assert sorted(mask_box(m) for _, m in ref.objects) == sorted(mask_box(m) for m in objs)


def test_validate_sweep_names_an_rle_of_the_wrong_size(tmp_path):
    from automask_ros.core.capture.dataset import validate_sweep
    writer = SweepWriter(tmp_path, "mug")
    writer.add_frame(np.zeros((40, 50, 3), np.uint8), blob(), angle_deg=0.0)
    path = writer.finish()
    assert validate_sweep(path) == []
    coco = json.loads((path / "annotations.json").read_text())
    coco["annotations"][0]["segmentation"] = encode_rle(np.ones((41, 50), bool))
    (path / "annotations.json").write_text(json.dumps(coco))
    assert validate_sweep(path) == ["annotation 1 RLE size [41, 50] does not match its image"]


def test_clutter_coco_file_loads_with_unique_ids_and_exact_masks(tmp_path):
    from automask_ros.core.demo.render import write_clutter_coco
    scenes = [(np.full((40, 50, 3), 60, np.uint8), [("mug", blob()), ("box", blob(box=(30, 20, 48, 38))),
                                                    ("teapot", blob())]),   # not a label: left out
              (np.full((40, 50, 3), 90, np.uint8), [("box", blob(box=(1, 1, 9, 9)))])]
    out = write_clutter_coco(tmp_path / "clutter", scenes, ["mug", "box"])
    gt, loaders = gt_from_coco_file(out / "annotations.json", out, ["mug", "box"])
    assert [a["id"] for a in gt["annotations"]] == [1, 2, 3]
    assert [(a["image_id"], a["category_id"]) for a in gt["annotations"]] == [(1, 1), (1, 2), (2, 2)]
    assert np.array_equal(annotation_to_mask(gt["annotations"][1], 40, 50), blob(box=(30, 20, 48, 38)))
    assert loaders[1]().shape == (40, 50, 3)
