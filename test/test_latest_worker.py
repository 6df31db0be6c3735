"""The newest-frame worker drops stale items instead of queueing them, and survives errors."""

import threading

from automask_ros.core.shared.latest import LatestWorker


def test_slow_consumer_sees_only_newest_items():
    seen, entered, gate = [], threading.Event(), threading.Event()

    def handle(item):
        entered.set()
        assert gate.wait(60), "the test never opened the gate"
        seen.append(item)

    worker = LatestWorker(handle)
    worker.submit(0)
    assert entered.wait(60)  # item 0 is now being handled, blocked on the gate
    for i in range(1, 10):
        worker.submit(i)
    gate.set()
    assert worker.wait_idle()
    worker.stop()
    assert seen == [0, 9]
    assert worker.stats.submitted == 10
    assert worker.stats.dropped == 8
    assert worker.stats.processed == 2


def test_errors_are_reported_and_the_worker_keeps_going():
    errors, seen = [], []

    def handle(item):
        if item == "bad":
            raise ValueError("bad frame")
        seen.append(item)

    worker = LatestWorker(handle, on_error=errors.append)
    worker.submit("bad")
    assert worker.wait_idle()
    worker.submit("good")
    assert worker.wait_idle()
    worker.stop()
    assert seen == ["good"]
    assert [str(e) for e in errors] == ["bad frame"]
    assert worker.stats.errors == 1 and worker.stats.last_error == "bad frame"
