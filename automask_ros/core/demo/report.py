"""The demo report: report.html plus PNGs in one folder, readable offline (no external assets).

The demo wiring passes plain data in: metric tables as dicts, figures as image paths or RGB arrays,
phase timings as seconds. contact_sheet() makes the mask contact sheet from frames and masks.

    write_report("demo_out", metrics={"held-out views": {"mask AP": 0.93, "AP50": 1.0}},
                 figures=[("Training curves", "demo_out/model/curves.png")])
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import shutil
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np

from ..shared.atomic import atomic_write_bytes, atomic_write_image

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.3em .7em;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{color:#555;font-size:.9em}
.meta{color:#666;font-size:.9em}code{background:#f5f5f5;padding:0 .2em}
"""


def contact_sheet(images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None], captions: Sequence[str] | None = None,
                  cols: int = 6, thumb_width: int = 200, colour=(40, 220, 90), alpha: float = 0.4) -> np.ndarray:
    """A grid of thumbnails with each mask drawn translucent with its outline, and a caption each."""
    if not images:
        raise ValueError("contact sheet needs at least one image")
    if len(masks) != len(images) or (captions is not None and len(captions) != len(images)):
        raise ValueError("contact sheet needs one mask (or None) and one caption per image")
    h0, w0 = images[0].shape[:2]
    tw = int(thumb_width)
    th = max(1, round(h0 * tw / w0))
    cap_h = 18 if captions else 0
    cols = max(1, min(cols, len(images)))
    rows = math.ceil(len(images) / cols)
    sheet = np.full((rows * (th + cap_h + 4) + 4, cols * (tw + 4) + 4, 3), 255, np.uint8)
    for i, (img, mask) in enumerate(zip(images, masks)):
        small = cv2.resize(np.asarray(img, np.uint8), (tw, th), interpolation=cv2.INTER_AREA)
        if mask is not None and np.any(mask):
            m = cv2.resize(np.asarray(mask).astype(np.uint8), (tw, th), interpolation=cv2.INTER_NEAREST) > 0
            small[m] = (small[m] * (1 - alpha) + np.array(colour) * alpha).astype(np.uint8)
            contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(small, contours, -1, colour, 1, cv2.LINE_AA)
        r, c = divmod(i, cols)
        y, x = 4 + r * (th + cap_h + 4), 4 + c * (tw + 4)
        sheet[y:y + th, x:x + tw] = small
        if captions:
            cv2.putText(sheet, str(captions[i])[:40], (x + 2, y + th + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        (40, 40, 40), 1, cv2.LINE_AA)
    return sheet


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "n/a" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def _table(rows: Mapping[str, Mapping[str, object]], first: str = "") -> str:
    columns: list[str] = []
    for values in rows.values():
        columns += [c for c in values if c not in columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in [first] + columns)
    body = "".join("<tr><td>" + html.escape(str(name)) + "</td>" +
                   "".join(f"<td>{html.escape(_fmt(values.get(c)))}</td>" for c in columns) + "</tr>"
                   for name, values in rows.items())
    return f"<table><tr>{head}</tr>{body}</table>"


def _place_figure(out: Path, index: int, figure) -> str:
    """Write an array, or copy a file from elsewhere, into out/figures; returns its relative path."""
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    if isinstance(figure, np.ndarray):
        name = f"figure_{index:02d}.png"
        atomic_write_image(figures / name, figure)
        return f"figures/{name}"
    path = Path(figure)
    if not path.is_file():
        raise FileNotFoundError(f"report figure {path} does not exist")
    try:
        return path.resolve().relative_to(out.resolve()).as_posix()
    except ValueError:
        name = f"figure_{index:02d}{path.suffix.lower() or '.png'}"
        shutil.copyfile(path, figures / name)
        return f"figures/{name}"


def write_report(out_dir: str | Path, *, title: str = "automask demo",
                 metrics: Mapping[str, Mapping[str, object]] | None = None,
                 figures: Sequence[tuple[str, object]] = (),
                 phases: Mapping[str, float] | None = None,
                 facts: Mapping[str, object] | None = None,
                 notes: Sequence[str] = ()) -> Path:
    """Write out_dir/report.html; returns its path.

    metrics: {row name: {column: value}} (e.g. {"held-out views": {"mask AP": .9, "AP50": 1.0}});
    figures: [(caption, PNG path or RGB array)], shown in order; phases: {phase: seconds};
    facts: {name: value} shown as a small table (dataset path, model id, ...); notes: paragraphs.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p class='meta'>written {_dt.datetime.now().isoformat(timespec='seconds')}</p>"]
    if metrics:
        parts.append("<h2>Metrics</h2>" + _table(metrics))
    if phases:
        total = sum(float(v) for v in phases.values())
        rows = {name: {"seconds": float(s), "minutes": float(s) / 60} for name, s in phases.items()}
        rows["total"] = {"seconds": total, "minutes": total / 60}
        parts.append("<h2>Time per phase</h2>" + _table(rows, "phase"))
    if facts:
        parts.append("<h2>Run</h2>" + _table({k: {"value": v} for k, v in facts.items()}))
    for note in notes:
        parts.append(f"<p>{html.escape(str(note))}</p>")
    for i, (caption, figure) in enumerate(figures):
        src = _place_figure(out, i, figure)
        parts.append(f"<figure><img src='{html.escape(src)}' alt='{html.escape(caption)}'>"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append("</body></html>\n")
    path = out / "report.html"
    atomic_write_bytes(path, "\n".join(parts).encode("utf-8"))
    return path


def topdown_positions(predicted: Sequence, truth: Sequence, labels: Sequence[str] | None = None,
                      title: str = "3D positions seen from above") -> np.ndarray:
    """RGB figure of predicted against true 3D positions from above (camera frame: x right, z
    forward, metres), one line from each truth to its prediction; None predictions (no 3D) are
    drawn as a red cross on the truth. For the report's figures list."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(predicted) != len(truth) or (labels is not None and len(labels) != len(truth)):
        raise ValueError("topdown_positions needs one prediction (or None) and one label per true position")
    fig, ax = plt.subplots(figsize=(5.5, 5))
    missing = []
    for i, (p, t) in enumerate(zip(predicted, truth)):
        t = np.asarray(t, float)
        if p is None:
            missing.append(t)
            continue
        p = np.asarray(p, float)
        ax.plot([t[0], p[0]], [t[2], p[2]], color="0.6", lw=0.8)
        ax.scatter([t[0]], [t[2]], marker="o", facecolors="none", edgecolors="tab:green",
                   label="true" if i == 0 else None)
        ax.scatter([p[0]], [p[2]], marker="x", color="tab:blue", label="predicted" if i == 0 else None)
        if labels is not None:
            ax.annotate(str(labels[i]), (t[0], t[2]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if missing:
        m = np.array(missing)
        ax.scatter(m[:, 0], m[:, 2], marker="x", color="tab:red", label="no 3D")
    errors = [np.linalg.norm(np.asarray(p, float) - np.asarray(t, float)) for p, t in zip(predicted, truth)
              if p is not None]
    if errors:
        title += f"\nmedian error {np.median(errors) * 100:.1f} cm over {len(errors)}"
    ax.set_xlabel("x (m, right)")
    ax.set_ylabel("z (m, away from the camera)")
    ax.set_title(title, fontsize=10)
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    image = cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
