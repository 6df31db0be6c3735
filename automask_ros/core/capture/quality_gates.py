"""Quality gates: reject a cleaned mask that cannot be the object, with a reason a user can act on.

Single-frame gates (area, border contact, blob count) always apply. Temporal gates compare with
the previous kept view (area jump, IoU): a real object changes little in one step. After
`reanchor_after` rejections in a row they are lifted once: the object really changed look (it was
re-placed), and refusing every frame from then on would lose the rest of the sweep.
"""

from __future__ import annotations


class QualityGates:
    def __init__(self, max_area_frac: float, max_border_contact: float, max_components: int,
                 max_area_jump: float, min_iou_prev: float, reanchor_after: int):
        self.max_area_frac, self.max_border_contact = max_area_frac, max_border_contact
        self.max_components, self.max_area_jump = max_components, max_area_jump
        self.min_iou_prev, self.reanchor_after = min_iou_prev, reanchor_after
        self.areas: list[float] = []  # area fraction of each kept view
        self.reject_run = 0           # rejections in a row

    @classmethod
    def from_params(cls, p) -> "QualityGates":
        return cls(p.max_area_frac, p.max_border_contact, p.max_components, p.max_area_jump, p.min_iou_prev,
                   p.reanchor_after)

    def reason(self, q: dict) -> str:
        """Why the mask with quality figures q (core/cleanup.quality) is rejected; "" = keep it."""
        if q["area_frac"] > self.max_area_frac:
            return f"mask covers {q['area_frac']:.0%} of the frame (> max_area_frac {self.max_area_frac})"
        if q["border_contact"] > self.max_border_contact:
            return f"mask touches {q['border_contact']:.0%} of the frame border (> {self.max_border_contact})"
        if q["n_components"] > self.max_components:
            return f"{q['n_components']} separate blobs (> max_components {self.max_components})"
        if self.reject_run >= self.reanchor_after or not self.areas:
            return ""
        ref = self.areas[-1]  # the neighbouring view: over several steps a real object's area changes a lot
        jump = abs(q["area_frac"] - ref) / max(ref, 1e-9)
        if jump > self.max_area_jump:
            return f"area jumped by {jump:.0%} against the previous kept frame (> max_area_jump {self.max_area_jump})"
        if q["iou_prev"] is not None and q["iou_prev"] < self.min_iou_prev:
            return f"IoU {q['iou_prev']:.2f} with the previous kept mask (< min_iou_prev {self.min_iou_prev})"
        return ""

    def kept(self, area_frac: float) -> None:
        self.areas.append(area_frac)
        self.reject_run = 0

    def rejected(self) -> None:
        self.reject_run += 1  # the next frame is tried at once: it may show this view better
