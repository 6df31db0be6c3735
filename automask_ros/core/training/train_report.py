"""What a training run tells people: headline metrics, metrics.json content and the curves PNG."""

from __future__ import annotations

import io
import resource

import numpy as np

HEADLINE = ("segm_AP", "segm_AP50", "segm_AP75", "bbox_AP", "bbox_AP50", "bbox_AP75")


def headline(metrics: dict) -> dict:
    """The figures a bundle and a TrainResult carry: AP figures, per label, and the epoch."""
    out = {k: metrics[k] for k in HEADLINE if k in metrics}
    for key in ("per_label", "epoch"):
        if key in metrics:
            out[key] = metrics[key]
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def curves_png(losses: list[tuple[int, float]], history: list[dict]) -> bytes:
    """Training loss against iteration and validation AP against epoch, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    if losses:
        it, loss = np.array(losses).T
        k = max(1, len(loss) // 50)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax1.plot(it, loss, alpha=0.3, label="loss")
        ax1.plot(it[k - 1:], smooth, label=f"mean of {k}")
        ax1.set_yscale("log")
        ax1.legend()
    ax1.set_xlabel("iteration")
    ax1.set_title("training loss")
    evals = [h for h in history if "segm_AP" in h]
    if evals:
        ep = [h["epoch"] for h in evals]
        for key in ("segm_AP", "segm_AP50", "bbox_AP"):
            ax2.plot(ep, [h[key] for h in evals], marker="o", label=key)
        ax2.set_ylim(0, 1.02)
        ax2.legend()
    else:  # a run without validation data keeps its last model
        ax2.text(0.5, 0.5, "no validation data", ha="center", va="center", transform=ax2.transAxes)
    ax2.set_xlabel("epoch")
    ax2.set_title("validation")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()
