"""HotSwapSlot's synchronous load (a lifecycle configure) and unload (cleanup)."""

import threading

import pytest

from automask_ros.core.detection.hot_swap import HotSwapSlot


def test_load_now_swaps_in_or_raises_and_keeps_what_it_had():
    loaded = []

    def load(key):
        if key == "bad":
            raise ValueError("bad bundle")
        return f"model:{key}"

    slot = HotSwapSlot(load, on_loaded=lambda k, obj: loaded.append(obj))
    slot.load_now("a")
    assert (slot.current, slot.current_key, loaded) == ("model:a", "a", ["model:a"])
    with pytest.raises(ValueError, match="bad bundle"):
        slot.load_now("bad")
    assert (slot.current, slot.current_key) == ("model:a", "a")


def test_unload_waits_for_a_running_load_drops_queued_ones_and_empties_the_slot():
    release, started = threading.Event(), threading.Event()
    calls = []

    def load(key):
        calls.append(key)
        started.set()
        release.wait(10)
        return f"model:{key}"

    slot = HotSwapSlot(load)
    slot.request("a")
    assert started.wait(10)
    slot.request("b")  # queued behind "a": unload must drop it
    threading.Timer(0.2, release.set).start()
    assert slot.unload() == "model:a"  # the running load finished, then was taken out
    assert (slot.current, slot.current_key, calls) == (None, None, ["a"])
    assert slot.unload() is None
