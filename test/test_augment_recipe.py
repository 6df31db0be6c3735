"""The default training recipe: procedural scenes and distractors, edge blends, the prefetch thread."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from trainutil import draw  # noqa: E402

from automask_ros.core.training import procedural  # noqa: E402
from automask_ros.core.training.augment import BLENDS, AugmentConfig, Augmenter, composite  # noqa: E402
from automask_ros.core.training.data import prefetched  # noqa: E402


def test_procedural_scenes_are_varied_cluttered_and_reproducible():
    a = procedural.background(96, 128, np.random.default_rng(3))
    b = procedural.background(96, 128, np.random.default_rng(3))
    c = procedural.background(96, 128, np.random.default_rng(4))
    assert a.shape == (96, 128, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # clutter, not a flat wall: many distinct colours and strong local edges
    assert len(np.unique(a.reshape(-1, 3) // 16, axis=0)) > 20
    assert np.abs(np.diff(a.astype(int), axis=1)).max() > 40


def test_procedural_distractors_are_solid_object_sized_shapes():
    rng = np.random.default_rng(0)
    for _ in range(20):
        rgb, mask = procedural.distractor(80, rng)
        assert rgb.shape[:2] == mask.shape and mask.shape[0] == 80 and mask.dtype == bool
        assert 0.1 < mask.mean() < 1.0


@pytest.mark.parametrize("blend", BLENDS)
def test_every_blend_keeps_masks_exact_and_changes_only_the_pasted_region(blend):
    rng = np.random.default_rng(1)
    image, mask = draw("disc", 0, 64)
    background = np.full((120, 160, 3), 90, np.uint8)
    cfg = AugmentConfig(paste=1.0, paste_objects=(1, 1), canvas=96, paste_size=(0.5, 0.5), blend=(blend,),
                        distractors=(0, 0), paste_rotate_deg=0, paste_light=0)
    canvas, masks, labels = composite(image, [mask], [1], background, None, cfg, rng)
    assert canvas.shape == (96, 96, 3) and labels == [1] and len(masks) == 1
    m = masks[0]
    assert 0.5 * 48 * 48 * np.pi / 4 * 0.5 < m.sum() < 48 * 48  # about the requested size
    ring = np.zeros_like(m)
    ys, xs = np.nonzero(m)
    ring[max(ys.min() - 10, 0):ys.max() + 10, max(xs.min() - 10, 0):xs.max() + 10] = True
    assert np.all(canvas[~ring] == 90)  # nothing outside the paste (and its blend margin) changed
    assert np.abs(canvas[m].astype(int) - 90).mean() > 20  # the object is really there


def test_default_augmenter_composites_on_procedural_scenes_with_distractors():
    image, mask = draw("disc", 0, 64)
    aug = Augmenter(AugmentConfig(paste=1.0, canvas=96, geometric=0, photometric=0))
    changed = 0
    for seed in range(6):
        rgb, masks, labels = aug(image, [mask], [1], np.random.default_rng(seed))
        assert rgb.shape[0] == 96 and all(m.shape == rgb.shape[:2] for m in masks) and set(labels) <= {1}
        outside = ~np.any(masks, axis=0) if masks else np.ones(rgb.shape[:2], bool)
        changed += len(np.unique(rgb[outside].reshape(-1, 3) // 32, axis=0)) > 4  # a scene, not a plain frame
    assert changed == 6
    # no background at all (procedural off, no photos, no negatives): the frame itself is the canvas
    plain = Augmenter(AugmentConfig(paste=1.0, procedural=False, geometric=0, photometric=0, hflip=0))
    rgb, masks, labels = plain(image, [mask], [1], np.random.default_rng(0))
    assert labels == [1] and np.array_equal(masks[0], mask) and rgb.shape == image.shape


def test_prefetched_keeps_order_and_raises_where_the_maker_failed():
    assert list(prefetched(iter(range(50)), depth=3)) == list(range(50))

    def broken():
        yield 1
        yield 2
        raise ValueError("bad frame")

    got = []
    with pytest.raises(ValueError, match="bad frame"):
        for item in prefetched(broken()):
            got.append(item)
    assert got == [1, 2]
    # stopping early releases the thread
    it = prefetched(iter(range(10 ** 6)))
    assert next(it) == 0
    it.close()
