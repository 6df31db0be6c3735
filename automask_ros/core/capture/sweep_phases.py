"""The sweep's phases and its negatives: before -> object -> after -> done.

`before`: the turntable is empty; up to `negatives_before` frames are stored as negatives (the
first is the background reference). `object`: the object turns and views are recorded. When the
revolution is complete the sweep is done, or, with `negatives_after`, goes to `after`: the user
takes the object away and up to `negatives_after` empty frames are stored, for at most
`after_timeout_s`.
"""

from __future__ import annotations


class SweepPhases:
    def __init__(self, negatives_before: int, negatives_after: int, after_timeout_s: float):
        self.limits = {"before": negatives_before, "after": negatives_after}
        self.after_timeout_s = after_timeout_s
        self.phase = "before"
        self.negatives = {"before": 0, "after": 0}
        self.done = False
        self.revolution_done = False
        self.message = ""
        self._t_after: float | None = None

    def object_appeared(self) -> None:
        self.phase = "object"

    def revolution_complete(self, why: str) -> None:
        """The views are recorded: done, or wait for the after-negatives."""
        self.revolution_done = True
        self.message = why
        if self.limits["after"] > 0 and self.phase == "object":
            self.wait_for_removal(why)
        else:
            self.done = True

    def wait_for_removal(self, why: str) -> None:
        self.phase = "after"
        self.revolution_done = True
        self.message = f"{why}; remove the object to record {self.limits['after']} empty frames"
        self._t_after = None

    def after_timed_out(self, now: float) -> bool:
        """In `after`: whether waiting for the empty turntable has taken too long (then done)."""
        if self._t_after is None:
            self._t_after = now
        if now - self._t_after > self.after_timeout_s:
            self.done = True
            return True
        return False

    def wants_negative(self, when: str) -> bool:
        """Whether another empty frame of this phase should be stored."""
        return self.negatives[when] < self.limits[when]

    def stored_negative(self, when: str) -> None:
        self.negatives[when] += 1
        if when == "after" and self.negatives["after"] >= self.limits["after"]:
            self.done = True
