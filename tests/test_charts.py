"""Server-side SVG charts: well-formed, no script or style, every label escaped."""
import xml.etree.ElementTree as ET

import pytest

from helpdesk import charts

HOSTILE = '<script>alert(1)</script>"&\' onload="x'


@pytest.mark.parametrize("chart", [
    lambda: charts.hbar_chart(HOSTILE, [(HOSTILE, 3), ("b", 0)]),
    lambda: charts.column_chart(HOSTILE, [HOSTILE, "m2"], [(HOSTILE, [1, None]), ("s2", [0, 2.5])]),
    lambda: charts.line_chart(HOSTILE, ["a", "b", "c"], [(HOSTILE, [None, 1, 2]), ("s2", [3, 4, None])]),
    lambda: charts.column_chart("empty", [], []),
    lambda: charts.hbar_chart("empty", []),
])
def test_charts_are_safe_well_formed_svg(chart):
    svg = str(chart())
    root = ET.fromstring(svg)  # raises on malformed markup
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    names = {el.tag.split("}")[1] for el in root.iter()}
    assert not names & {"script", "style", "foreignObject", "image", "a", "use"}
    assert not any(attr.startswith("on") or attr in ("style", "href") for el in root.iter() for attr in el.attrib)
    assert "<script" not in svg


def test_bar_lengths_are_proportional():
    root = ET.fromstring(str(charts.hbar_chart("t", [("a", 10), ("b", 5)])))
    widths = [float(r.get("width")) for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert widths[0] == pytest.approx(2 * widths[1]) and widths[0] > 0


@pytest.mark.parametrize("value, top", [(0, 1), (0.4, 0.5), (1, 1), (7, 10), (45, 50), (101, 200), (2400, 2500)])
def test_axis_top_is_a_round_number(value, top):
    assert charts._nice_max(value) == top
