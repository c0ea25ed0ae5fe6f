"""Text labels that do not overlap, for matplotlib maps and network plots (map.png,
network.png): a greedy placement, most important label first.

Each label tries eight positions around its point (right, left, above, below and the
diagonals, `OFFSETS_PT` points away); it takes the first whose box lies inside the axes and
meets no label placed before it, and is left out when none does, so a crowded map shows
fewer labels rather than labels on top of each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["OFFSETS_PT", "place_labels"]

# (dx, dy) in points and the alignment that puts the text on that side of its point
OFFSETS_PT: tuple[tuple[float, float, str, str], ...] = (
    (5, 0, "left", "center"), (-5, 0, "right", "center"), (0, 5, "center", "bottom"),
    (0, -5, "center", "top"), (4, 4, "left", "bottom"), (-4, 4, "right", "bottom"),
    (4, -4, "left", "top"), (-4, -4, "right", "top"))


def place_labels(ax: Any, labels: Sequence[tuple[float, float, str]], *,
                 fontsize: float = 8, pad_px: float = 2.0, avoid: Sequence[Any] = (),
                 **text_kw: Any) -> list[Any]:
    """Annotate `ax` with `labels` [(x, y, text)] in data coordinates, in the order given
    (put the most important first), without overlaps; returns the texts placed.

    The axes' limits must be final (set them before calling): placement is measured on
    the figure's renderer. `avoid` holds display-space boxes (matplotlib `Bbox`, e.g. a
    legend's window extent) that no label may meet. A label that fits nowhere is left out.
    """
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.canvas.draw()  # the final layout: an equal-aspect axes shrinks its box when drawn
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    taken = list(avoid)
    placed = []
    for x, y, text in labels:
        for dx, dy, ha, va in OFFSETS_PT:
            artist = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points",
                                 ha=ha, va=va, fontsize=fontsize, annotation_clip=True,
                                 **text_kw)
            raw = artist.get_window_extent(renderer)
            box = Bbox.from_extents(raw.x0 - pad_px, raw.y0 - pad_px, raw.x1 + pad_px,
                                    raw.y1 + pad_px)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 \
                and box.y1 <= frame.y1
            if inside and not any(box.overlaps(other) for other in taken):
                taken.append(box)
                placed.append(artist)
                break
            artist.remove()
    return placed
