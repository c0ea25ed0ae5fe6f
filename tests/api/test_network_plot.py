"""network.png (`symbiosis analyze`) read through its matplotlib artists: legends for every
symbol, keystone labels that do not overlap, amounts without a "1e6" offset."""

from __future__ import annotations

from typing import Any

from symbiosis.api.report.numbers import fmt_amount
from symbiosis.api.report.plots import network_figure

# six enterprises around Xiangtan, four of them within 300 m of each other (labels collide
# unless placed), and keystones losing up to 3.2 million t/yr (an axis matplotlib would
# write with a "1e6" offset)
LON = {"A": 112.90, "B": 112.901, "C": 112.902, "D": 112.9005, "E": 113.10, "F": 112.60}
LAT = {"A": 27.85, "B": 27.851, "C": 27.849, "D": 27.8505, "E": 27.95, "F": 27.70}
REPORT: dict[str, Any] = {
    "enterprises": [{"enterprise_id": k} for k in LON],
    "keystones": [{"enterprise_id": k, "tonnes_lost": q} for k, q in
                  (("A", 3_200_000.0), ("B", 2_500_000.0), ("C", 1_250_000.0),
                   ("D", 900_000.0), ("E", 40_000.0), ("F", 1_000.0))]}
EDGES = [("A", "E"), ("B", "F"), ("C", "E"), ("D", "A")]


def test_network_plot_has_legends_labels_apart_and_no_offset_axis() -> None:
    from matplotlib.text import Annotation

    fig = network_figure(REPORT, LON, LAT, EDGES)
    left, right = fig.axes
    assert [t.get_text() for t in left.get_legend().get_texts()] == [
        "provincial boundary", "exchange (supplier → receiver)", "top-5 keystone",
        "enterprise in the network"]
    assert [t.get_text() for t in right.get_legend().get_texts()] == [
        "solid by-product matched lost, t/yr"]
    renderer = fig.canvas.get_renderer()
    labels = [a for a in left.get_children()
              if isinstance(a, Annotation) and a.get_text()]
    assert 1 <= len(labels) <= 5 and labels[0].get_text() == "A"  # the top keystone first
    boxes = [a.get_window_extent(renderer) for a in labels]
    legend = left.get_legend().get_window_extent(renderer)
    frame = left.get_window_extent(renderer)
    for i, box in enumerate(boxes):
        assert not any(box.overlaps(other) for other in boxes[i + 1:])
        assert not box.overlaps(legend)
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1
    # the bar axis: the report's amounts, no scientific offset
    fig.canvas.draw()
    ticks = [t.get_text() for t in right.get_xticklabels() if t.get_text()]
    assert fmt_amount(3_000_000.0) in ticks, ticks
    assert all("e" not in t.replace("million", "") for t in ticks), ticks
    assert right.xaxis.get_offset_text().get_text() == ""
    assert left.xaxis.get_offset_text().get_text() == ""
