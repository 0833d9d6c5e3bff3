"""optimlint.schedule.chart: the terminal chart (text, checked cell by cell) and the image
(PNG/SVG written by matplotlib, checked from the file's bytes)."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
from pathlib import Path

import matplotlib  # the image tests need it: no skip, a missing one fails loudly
import pytest

from optimlint.schedule.chart import ChartError, Curve, save_image, terminal_chart

ROOT = Path(__file__).resolve().parents[1]


def step_lr(steps: int = 300, lr: float = 0.1, step_size: int = 100, gamma: float = 0.1) -> list[float]:
    return [lr * gamma ** (i // step_size) for i in range(steps)]


def cyclic_lr(steps: int = 1000, low: float = 1e-4, high: float = 1e-2, half: int = 25) -> list[float]:
    out = []
    for i in range(steps):
        phase = (i % (2 * half)) / half
        out.append(low + (high - low) * (phase if phase <= 1 else 2 - phase))
    return out


def one_cycle(steps: int = 100, peak: float = 0.1) -> list[float]:
    up = int(0.3 * steps)
    out = []
    for i in range(steps):
        if i < up:
            out.append(peak / 25 + (peak - peak / 25) * (1 - math.cos(math.pi * i / up)) / 2)
        else:
            t = (i - up) / (steps - 1 - up)
            out.append(peak / 25e4 + (peak - peak / 25e4) * (1 + math.cos(math.pi * t)) / 2)
    return out


class Chart:
    """A rendered terminal chart taken apart: the label column, the plot cells, the axis."""

    def __init__(self, text: str, width: int, height: int) -> None:
        self.text = text
        self.lines = text.split("\n")
        axis_at = next(i for i, line in enumerate(self.lines) if "└" in line)
        self.axis_line = self.lines[axis_at]
        self.offset = self.axis_line.index("└") + 1  # the column of the plot's first cell
        self.row_lines = [line for line in self.lines[:axis_at] if len(line) > self.offset - 1
                          and line[self.offset - 1] in "┤│"]
        self.rows = [line[self.offset:].ljust(width) for line in self.row_lines]
        self.labels = [line[:self.offset - 2].strip() for line in self.row_lines]
        self.axis = self.axis_line[self.offset:]
        self.after = self.lines[axis_at + 1:]
        self.width, self.height = width, height

    def column(self, c: int) -> str:
        return "".join(row[c] for row in self.rows)

    def inked(self, rows: range, columns: range) -> bool:
        return any(self.rows[r][c] != " " for r in rows for c in columns)


def is_braille(ch: str) -> bool:
    return 0x2801 <= ord(ch) <= 0x28FF


# --------------------------------------------------------------------------------------------
# terminal


def test_step_curve_shows_the_drop_and_its_values() -> None:
    chart = Chart(terminal_chart([Curve("optimizer (group 0)", step_lr())], width=60, height=12), 60, 12)
    assert len(chart.rows) == 12 and len(chart.axis) == 60
    assert all(len(row) == 60 for row in chart.rows)
    # 0.1 for the first third, 0.001 for the last: ink top-left and bottom-right, none in the
    # opposite corners.
    assert all(is_braille(ch) for ch in chart.rows[0][:19])
    assert all(is_braille(ch) for ch in chart.rows[-1][41:])
    assert not chart.inked(range(6), range(41, 60))
    assert not chart.inked(range(6, 12), range(19))
    # The first drop is one column wide, and fills every row between the levels.
    drop = chart.column(20)
    assert all(is_braille(ch) for ch in drop[:10])
    assert chart.labels[0] == "0.1" and chart.labels[-1] == "1e-03"
    assert chart.labels[(12 - 1) // 2]  # the middle tick
    assert sum(bool(label) for label in chart.labels) == 3
    # A fixed-width label column: every plot line has its axis at the same column.
    assert {line[chart.offset - 1] for line in chart.row_lines} <= {"┤", "│"}
    assert chart.after[0].split() == ["0", "150", "299"]
    assert chart.after[1].strip() == "optimizer step"
    assert chart.after[2] == "⣿ optimizer (group 0)"


@pytest.mark.parametrize("height", [2, 3, 5, 12, 20])
@pytest.mark.parametrize("width", [8, 33, 72])
def test_plot_has_exactly_height_rows_and_width_columns(width: int, height: int) -> None:
    text = terminal_chart([Curve("a", step_lr())], width=width, height=height, title="StepLR")
    chart = Chart(text, width, height)
    assert len(chart.rows) == height
    assert len(chart.axis) == width
    assert chart.lines[0].strip() == "StepLR"
    assert all(line == line.rstrip() for line in chart.lines)
    assert "\x1b" not in text


def test_cyclic_curve_keeps_its_oscillation_as_vertical_spans() -> None:
    values = cyclic_lr(1000)
    chart = Chart(terminal_chart([Curve("cyclic", values)], width=60, height=12), 60, 12)
    # ~17 steps per column, a third of a 50-step cycle: most columns span much of the range.
    # Sampling one value per column would leave one row inked per column.
    spans = [sum(ch != " " for ch in chart.column(c)) for c in range(60)]
    assert sum(span >= 4 for span in spans) >= 40, spans
    assert max(spans) >= 8
    assert chart.labels[0] == "0.01" and chart.labels[-1] == "1e-04"


def test_constant_curve_is_a_flat_line_in_the_middle_labelled_with_its_value() -> None:
    chart = Chart(terminal_chart([Curve("constant", [3.2e-4] * 50)], width=40, height=9), 40, 9)
    inked_rows = [r for r in range(9) if chart.rows[r].strip()]
    assert inked_rows == [4]
    assert all(is_braille(ch) for ch in chart.rows[4])
    assert chart.labels == ["", "", "", "", "3.2e-04", "", "", "", ""]


def test_single_step_curve() -> None:
    chart = Chart(terminal_chart([Curve("one", [0.5])], width=20, height=4), 20, 4)
    assert len(chart.rows) == 4
    assert chart.after[0].strip() == "0"
    assert any(is_braille(ch) for row in chart.rows for ch in row)


def test_empty_and_non_finite_inputs_give_one_line() -> None:
    assert terminal_chart([]) == "no learning-rate values to chart"
    assert terminal_chart([Curve("empty", ())], title="SGD") == "SGD: no learning-rate values to chart"
    only_nan = terminal_chart([Curve("nan", [math.nan, math.inf, -math.inf])])
    assert only_nan == "no learning-rate values to chart"
    with_marker = terminal_chart([Curve("x", [])], markers=[(0, "ValueError: stepped past total_steps")])
    assert with_marker.split("\n") == ["no learning-rate values to chart",
                                       "▲ step 0: ValueError: stepped past total_steps"]


def test_nan_and_inf_points_are_skipped() -> None:
    values = [math.nan, math.inf, 0.1, 0.1, math.nan, 0.05, 0.05, -math.inf]
    chart = Chart(terminal_chart([Curve("gappy", values)], width=16, height=4), 16, 4)
    assert chart.labels[0] == "0.1" and chart.labels[-1] == "0.05"
    # Steps 0-1 (columns 0-3) and 7 (columns 14-15) have no value: nothing drawn there.
    assert not chart.inked(range(4), range(4))
    assert not chart.inked(range(4), range(14, 16))
    assert chart.inked(range(1), range(4, 8)) and chart.inked(range(3, 4), range(10, 14))
    assert chart.after[0].split() == ["0", "4", "7"]


def test_none_values_are_unknown_and_values_become_a_tuple_of_floats() -> None:
    curve = Curve("c", [1, None, 0.5])  # type: ignore[list-item]
    assert isinstance(curve.values, tuple)
    assert curve.values[0] == 1.0 and math.isnan(curve.values[1]) and curve.values[2] == 0.5


def test_values_over_orders_of_magnitude() -> None:
    values = [10.0 ** -(i // 10) for i in range(80)]  # 1 down to 1e-7
    chart = Chart(terminal_chart([Curve("exp", values)], width=40, height=6), 40, 6)
    assert chart.labels[0] == "1" and chart.labels[-1] == "1e-07"
    assert len(chart.rows) == 6


def test_two_curves_have_two_legend_lines_with_distinct_markers() -> None:
    original = Curve("optimizer (group 0)", one_cycle())
    fixed = Curve("optimizer (group 0), after --fix", [v * 0.5 for v in one_cycle()], dashed=True)
    chart = Chart(terminal_chart([original, fixed], width=50, height=10), 50, 10)
    legend = chart.after[2:4]
    assert legend[0] == "⣿ optimizer (group 0)"
    assert legend[1] == "╌ optimizer (group 0), after --fix"
    # Both are on the plot: braille for the first, the dashed glyphs for the second.
    cells = "".join(chart.rows)
    assert any(is_braille(ch) for ch in cells)
    assert "╌" in cells
    assert not set(cells) - {" ", "╌", "╎"} - {chr(c) for c in range(0x2801, 0x2900)}


def test_solid_overlays_and_dashed_overlays_get_distinct_glyphs() -> None:
    curves = [Curve("a", [3.0, 3.0]), Curve("b", [2.0, 2.0]), Curve("c", [1.0, 1.0]),
              Curve("d", [0.0, 0.0], dashed=True), Curve("e", [1.5, 1.5], dashed=True)]
    text = terminal_chart(curves, width=20, height=8)
    legend = text.split("\n")[-5:]
    markers = [line.split(" ")[0] for line in legend]
    assert [line.split(" ", 1)[1] for line in legend] == ["a", "b", "c", "d", "e"]
    assert len(set(markers)) == 5
    chart = Chart(text, 20, 8)
    for marker in markers[1:]:
        assert marker in "".join(chart.rows)


def test_identical_curves_report_the_hidden_one() -> None:
    text = terminal_chart([Curve("before", step_lr()), Curve("after", step_lr(), dashed=True)], width=40)
    assert "╌ after  (not visible: the same cells as a curve above)" in text.split("\n")


def test_partly_overlapping_curves_say_which_is_drawn() -> None:
    text = terminal_chart([Curve("before", step_lr()), Curve("after", step_lr(step_size=150), dashed=True)])
    assert text.endswith("where curves overlap, the one listed first is drawn")
    assert "╌ after" in text.split("\n")


def test_epoch_ticks_are_at_their_columns() -> None:
    text = terminal_chart([Curve("a", step_lr())], epoch_starts=[0, 100, 200], width=60)
    chart = Chart(text, 60, 12)
    assert [c for c, ch in enumerate(chart.axis) if ch == "┬"] == [0, 20, 40]
    assert set(chart.axis) == {"┬", "─"}
    assert "┬ epoch start (3 epochs)" in chart.after


def test_epoch_ticks_outside_the_steps_are_ignored() -> None:
    chart = Chart(terminal_chart([Curve("a", step_lr(30))], epoch_starts=[-1, 10, 30, 99], width=30), 30, 12)
    assert [c for c, ch in enumerate(chart.axis) if ch == "┬"] == [10]
    assert "┬ epoch start (1 epoch)" in chart.after


def test_many_epochs_are_thinned_and_the_legend_says_so() -> None:
    chart = Chart(terminal_chart([Curve("a", step_lr(1000))], epoch_starts=range(0, 1000, 5), width=40),
                  40, 12)
    ticks = [c for c, ch in enumerate(chart.axis) if ch == "┬"]
    assert 0 < len(ticks) <= 20
    assert ticks[:3] == [0, 2, 4]  # every 10th of 200 epochs: steps 0, 50, 100
    assert "┬ epoch start (every 10th of 200 epochs shown)" in chart.after


def test_markers_are_on_the_axis_and_listed() -> None:
    markers = [(150, "trigger points unknown"), (300, "ValueError: stepped past total_steps")]
    chart = Chart(terminal_chart([Curve("a", step_lr())], markers=markers, width=60), 60, 12)
    # Step 300 is past the last value (299): the x axis reaches it.
    assert chart.axis[150 * 60 // 301] == "▲"
    assert chart.axis[-1] == "◆"
    assert chart.after[0].split()[-1] == "300"
    assert chart.after[-2:] == ["▲ step 150: trigger points unknown",
                                "◆ step 300: ValueError: stepped past total_steps"]


def test_output_is_deterministic_and_exact() -> None:
    curves = [Curve("lr", [1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 5e-4, 2.5e-4, 2.5e-4])]
    first = terminal_chart(curves, width=8, height=3, epoch_starts=[0, 3, 6], markers=[(7, "end")])
    assert first == terminal_chart(curves, width=8, height=3, epoch_starts=[0, 3, 6], markers=[(7, "end")])
    assert first == "\n".join([
        "  1e-03 ┤⠉⠉⠉⡆",
        "6.3e-04 ┤   ⣇⣀⣀",
        "2.5e-04 ┤      ⣇⣀",
        "        └┬──┬──┬▲",
        "         0   4  7",
        "         optimizer step",
        "⣿ lr",
        "┬ epoch start (3 epochs)",
        "▲ step 7: end",
    ])


def test_too_small_a_chart_is_a_chart_error() -> None:
    with pytest.raises(ChartError, match="at least 8 columns"):
        terminal_chart([Curve("a", [1.0])], width=4)
    with pytest.raises(ChartError, match="2 rows"):
        terminal_chart([Curve("a", [1.0])], height=1)


def test_terminal_chart_needs_no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert "⣿ a" in terminal_chart([Curve("a", step_lr())])


def test_importing_the_module_does_not_import_matplotlib_and_images_leave_pyplot_alone(tmp_path: Path) -> None:
    code = (
        "import sys, pathlib\n"
        "from optimlint.schedule.chart import Curve, save_image, terminal_chart\n"
        "assert 'matplotlib' not in sys.modules\n"
        "terminal_chart([Curve('a', [1.0, 2.0])])\n"
        "assert 'matplotlib' not in sys.modules\n"
        f"save_image(pathlib.Path({str(tmp_path / 'x.png')!r}), [Curve('a', [1.0, 2.0])])\n"
        "assert 'matplotlib' in sys.modules and 'matplotlib.pyplot' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "x.png").is_file()


# --------------------------------------------------------------------------------------------
# image


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def test_png_of_two_curves_with_epochs_and_markers(tmp_path: Path) -> None:
    out = tmp_path / "schedule.png"
    curves = [Curve("optimizer (group 0)", step_lr()),
              Curve("optimizer (group 0), after --fix", step_lr(step_size=150), dashed=True)]
    save_image(out, curves, epoch_starts=[0, 100, 200], title="StepLR",
               markers=[(150, "trigger points unknown"), (300, "stepped past total_steps")])
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 5 * 1024
    assert png_size(data) == (900, 450)


def test_png_size_does_not_follow_a_tight_bbox_setting(tmp_path: Path) -> None:
    out = tmp_path / "tight.png"
    with matplotlib.rc_context({"savefig.bbox": "tight", "savefig.dpi": 50}):
        save_image(out, [Curve("a", step_lr())])
    assert png_size(out.read_bytes()) == (900, 450)


def test_svg(tmp_path: Path) -> None:
    out = tmp_path / "schedule.SVG"
    save_image(out, [Curve("a", one_cycle()), Curve("b", one_cycle(), dashed=True)],
               epoch_starts=range(0, 100, 1), title="OneCycleLR")
    text = out.read_text(encoding="utf-8")
    assert "<svg" in text
    assert "stroke-dasharray" in text  # the dashed curve
    assert "every 2nd" in text  # 100 epoch lines thinned to 50, and the legend says so


@pytest.mark.parametrize("curves", [[], [Curve("nan", [math.nan, math.inf])], [Curve("one", [0.1])],
                                    [Curve("flat", [0.1] * 500)]])
def test_degenerate_images_are_still_written(tmp_path: Path, curves: list[Curve]) -> None:
    out = tmp_path / "x.png"
    save_image(out, curves, markers=[(3, "here")])
    assert png_size(out.read_bytes()) == (900, 450)


@pytest.mark.parametrize("name", ["schedule.jpg", "schedule", "schedule.png.txt"])
def test_unsupported_suffix_is_a_chart_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(ChartError, match=r"\.png or \.svg") as caught:
        save_image(tmp_path / name, [Curve("a", [1.0])])
    assert "\n" not in str(caught.value)
    assert not (tmp_path / name).exists()


def test_missing_directory_is_a_chart_error(tmp_path: Path) -> None:
    with pytest.raises(ChartError, match="does not exist"):
        save_image(tmp_path / "no" / "such" / "dir.png", [Curve("a", [1.0])])
    (tmp_path / "file").write_text("")
    with pytest.raises(ChartError, match="is not a directory"):
        save_image(tmp_path / "file" / "x.png", [Curve("a", [1.0])])
    assert not (tmp_path / "no").exists()


def test_relative_path_in_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    save_image(Path("here.svg"), [Curve("a", [1.0, 0.5])])
    assert "<svg" in (tmp_path / "here.svg").read_text(encoding="utf-8")


def test_missing_matplotlib_is_a_chart_error_with_the_install_hint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ChartError) as caught:
        save_image(tmp_path / "x.png", [Curve("a", [1.0])])
    assert str(caught.value) == "--output needs matplotlib: pip install 'optimlint[plot]'"
    assert not (tmp_path / "x.png").exists()
