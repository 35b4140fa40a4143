"""Small SVG charts drawn on the server: no script, no external asset, readable without colour."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Sparkline:
    points: str
    width: int
    height: int
    first: float
    last: float

    @property
    def summary(self):
        return f"Score went from {self.first:g} to {self.last:g}"


def sparkline(scores, *, width=96, height=24, pad=2):
    """A polyline over the scores (0–100), oldest first; None for fewer than two points."""
    scores = list(scores)
    if len(scores) < 2:
        return None
    step = (width - 2 * pad) / (len(scores) - 1)
    span = height - 2 * pad
    points = " ".join(
        f"{pad + i * step:.1f},{pad + span - span * max(0.0, min(100.0, s)) / 100:.1f}" for i, s in enumerate(scores)
    )
    return Sparkline(points=points, width=width, height=height, first=scores[0], last=scores[-1])


@dataclass(frozen=True)
class ScoreChart:
    width: int
    height: int
    points: str
    dots: list
    gridlines: list
    labels: list


def score_chart(samples, *, width=720, height=240, left=40, right=12, top=12, bottom=36):
    """A line chart of (datetime, score) samples, oldest first, with a 0–100 axis and dated ends."""
    samples = list(samples)
    if not samples:
        return None
    plot_w = width - left - right
    plot_h = height - top - bottom
    start, end = samples[0][0], samples[-1][0]
    span = (end - start).total_seconds() or 1.0

    def x(when):
        if len(samples) == 1:
            return left + plot_w / 2
        return left + plot_w * (when - start).total_seconds() / span

    def y(score):
        return top + plot_h - plot_h * max(0.0, min(100.0, score)) / 100

    dots = [{"x": f"{x(w):.1f}", "y": f"{y(s):.1f}", "title": f"{w:%Y-%m-%d %H:%M} — {s:g}/100"} for w, s in samples]
    gridlines = [{"y": f"{y(v):.1f}", "label": str(v)} for v in (0, 25, 50, 75, 100)]
    labels = [{"x": f"{left:.1f}", "anchor": "start", "text": f"{start:%Y-%m-%d}"}]
    if len(samples) > 1:
        labels.append({"x": f"{left + plot_w:.1f}", "anchor": "end", "text": f"{end:%Y-%m-%d}"})
    return ScoreChart(
        width=width,
        height=height,
        points=" ".join(f"{d['x']},{d['y']}" for d in dots),
        dots=dots,
        gridlines=gridlines,
        labels=labels,
    )
