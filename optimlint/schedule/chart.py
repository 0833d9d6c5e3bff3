"""Drawing learning-rate schedules: a unicode chart for the terminal and a PNG or SVG image.

``terminal_chart`` needs nothing but the standard library. ``save_image`` needs matplotlib (the
``plot`` extra); it is imported only when an image is written, and only through
``matplotlib.figure.Figure`` and the Agg canvas, so a backend the user already selected (or a
pyplot session) is left alone.

The x axis is the optimizer step (index 0 is the first ``optimizer.step()``); the y axis is the
learning rate, on a linear scale. Values that are NaN or infinite are skipped (a gap).
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ChartError", "Curve", "IMAGE_SUFFIXES", "save_image", "terminal_chart"]

IMAGE_SUFFIXES = (".png", ".svg")
INSTALL_HINT = "--output needs matplotlib: pip install 'optimlint[plot]'"

# The image: 9 x 4.5 inches at 100 dpi, i.e. 900 x 450 pixels for a PNG.
_FIGSIZE = (9.0, 4.5)
_DPI = 100
# More epoch boundaries than this are thinned to every k-th (image).
_MAX_EPOCH_LINES = 60


@dataclass(frozen=True)
class Curve:
    """One learning-rate curve: the value at each optimizer step (index 0 = the first
    ``optimizer.step()``). ``values`` may be given as any iterable of numbers; it is stored as a
    tuple of floats (``None`` becomes NaN, i.e. unknown, drawn as a gap)."""

    label: str
    values: tuple[float, ...]
    dashed: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(math.nan if v is None else float(v) for v in self.values))


class ChartError(Exception):
    """A chart cannot be made; the message is one line, fit to show the user as is."""


# --------------------------------------------------------------------------------------------
# terminal


# Braille cell: 2 dot columns x 4 dot rows; bit of (row from the top, column).
_BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
_BRAILLE_LEGEND = "\u28ff"  # ⣿
# Overlay curves are drawn one glyph per character cell. Solid: a point glyph. Dashed: a dashed
# line (horizontal where the curve stays within two rows in a column, vertical where it jumps).
_SOLID_GLYPHS = ("•", "×", "+", "o", "*", "#")
_DASHED_GLYPHS = (("╌", "╎"), ("┄", "┆"), ("┈", "┊"))
_MARKER_GLYPHS = ("▲", "◆", "■", "▼", "●")
_EPOCH_TICK = "┬"

_MIN_WIDTH = 8
_MIN_HEIGHT = 2


def _format_value(value: float, digits: int) -> str:
    """Compact: ``0.1``, ``0.05``, ``1e-03``, ``3.2e-04`` (at most ``digits`` significant digits)."""
    if value == 0:
        return "0"
    if 1e-2 <= abs(value) < 1e4:
        text = f"{value:.{digits}g}"
        if "e" not in text:
            return text
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{exponent}"


def _format_labels(values: Sequence[float]) -> list[str]:
    """The fewest significant digits (2 to 6) that tell the given tick values apart."""
    labels = [_format_value(v, 2) for v in values]
    for digits in range(2, 7):
        labels = [_format_value(v, digits) for v in values]
        if len(set(labels)) == len(labels):
            break
    return labels


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _column_spans(rows: Sequence[int | None], extent: int, columns: int) -> list[tuple[int, int] | None]:
    """For each of ``columns`` columns over the steps ``0 .. extent-1``: the (low, high) row range of
    the steps that fall in it (min..max, so oscillations and drops inside one column stay
    visible), extended to meet the previous column's last row so that a jump reads as a line.
    ``rows[i]`` is step i's row, None where the value is not finite. None where nothing to draw."""
    spans: list[tuple[int, int] | None] = []
    previous: int | None = None
    for column in range(columns):
        first = column * extent // columns
        last = min(((column + 1) * extent - 1) // columns, len(rows) - 1)
        here = [r for r in rows[first:last + 1] if r is not None]
        if not here:
            spans.append(None)
            previous = None
            continue
        low, high = min(here), max(here)
        if previous is not None:
            if previous > high + 1:
                high = previous - 1
            elif previous < low - 1:
                low = previous + 1
        spans.append((low, high))
        previous = here[-1]
    return spans


def _centered(text: str, width: int) -> str:
    return " " * max(0, (width - len(text)) // 2) + text


def terminal_chart(
    curves: Sequence[Curve],
    *,
    epoch_starts: Sequence[int] = (),
    width: int = 72,
    height: int = 12,
    title: str = "",
    markers: Sequence[tuple[int, str]] = (),
) -> str:
    """The curves as a unicode chart of ``height`` rows by ``width`` columns (plus a label column
    on the left), the x axis with epoch starts (``┬``) and markers under it, then a legend: one
    line per curve, then the epoch and marker lines. No trailing newline, no trailing spaces, no
    escape codes; the same input gives the same text.

    The first solid (not dashed) curve is drawn in braille dots (2 x 4 per character); the others
    one glyph per character cell, a distinct glyph each (dashed curves as a dashed line). Where
    curves overlap, the one listed first is drawn. Where a column covers several steps it shows
    the whole min..max range of their values.

    With no finite value to draw, the answer is one line (followed by the marker lines, if any).
    """
    if width < _MIN_WIDTH or height < _MIN_HEIGHT:
        raise ChartError(f"a chart needs at least {_MIN_WIDTH} columns and {_MIN_HEIGHT} rows "
                         f"(got width {width}, height {height})")
    extent = max([len(c.values) for c in curves] + [step + 1 for step, _ in markers] + [0])
    finite = [v for c in curves for v in c.values if math.isfinite(v)]
    marker_lines = [f"{_MARKER_GLYPHS[i % len(_MARKER_GLYPHS)]} step {step}: {text}"
                    for i, (step, text) in enumerate(markers)]
    if not finite:
        message = "no learning-rate values to chart"
        return "\n".join([f"{title}: {message}" if title else message] + marker_lines)

    low_value, high_value = min(finite), max(finite)
    constant = low_value == high_value
    dot_rows = height * 4
    middle_row = (height - 1) // 2  # from the top

    def dot_row(value: float) -> int | None:
        """The dot row (0 = the bottom one) of a value; None for NaN and infinities."""
        if not math.isfinite(value):
            return None
        if constant:
            return (height - 1 - middle_row) * 4 + 2  # the ⠒ level of the middle row
        fraction = (value - low_value) / (high_value - low_value)
        return min(dot_rows - 1, max(0, math.floor(fraction * (dot_rows - 1) + 0.5)))

    # Plot cells: braille bits, or an overlay glyph; `owner` is the index of the curve drawn there.
    bits = [[0] * width for _ in range(height)]
    glyphs = [[""] * width for _ in range(height)]
    owner: list[list[int | None]] = [[None] * width for _ in range(height)]
    legend: list[str] = []
    hidden_any = False
    braille_used = False
    solid_count = dashed_count = 0
    for index, curve in enumerate(curves):
        rows = [dot_row(v) for v in curve.values]
        wanted = drawn = 0
        if not curve.dashed and not braille_used:
            braille_used = True
            symbol = _BRAILLE_LEGEND
            mine = [[0] * width for _ in range(height)]
            for dot_column, span in enumerate(_column_spans(rows, extent, width * 2)):
                if span is None:
                    continue
                for dot in range(span[0], span[1] + 1):
                    from_top = dot_rows - 1 - dot
                    mine[from_top // 4][dot_column // 2] |= _BRAILLE_BITS[from_top % 4][dot_column % 2]
            for r in range(height):
                for c in range(width):
                    if mine[r][c]:
                        wanted += 1
                        if owner[r][c] is None:
                            owner[r][c], bits[r][c] = index, mine[r][c]
                            drawn += 1
        else:
            if curve.dashed:
                flat, tall = _DASHED_GLYPHS[dashed_count % len(_DASHED_GLYPHS)]
                dashed_count += 1
            else:
                flat = tall = _SOLID_GLYPHS[solid_count % len(_SOLID_GLYPHS)]
                solid_count += 1
            symbol = flat
            cell_rows = [None if r is None else r // 4 for r in rows]
            for column, span in enumerate(_column_spans(cell_rows, extent, width)):
                if span is None:
                    continue
                # A move to the next row (a slope) stays a dash; a jump over rows is a vertical one.
                glyph = flat if span[1] - span[0] <= 1 else tall
                for cell in range(span[0], span[1] + 1):
                    from_top = height - 1 - cell
                    wanted += 1
                    if owner[from_top][column] is None:
                        owner[from_top][column], glyphs[from_top][column] = index, glyph
                        drawn += 1
        note = ""
        if wanted == 0:
            note = "  (no finite values)"
        elif drawn == 0:
            note = "  (not visible: the same cells as a curve above)"
        elif drawn < wanted:
            hidden_any = True
        legend.append(f"{symbol} {curve.label}{note}")

    # The y labels: max on the top row, min on the bottom one, a middle tick; the value of a
    # constant curve on its (middle) row only.
    y_labels = [""] * height
    if constant:
        y_labels[middle_row] = _format_labels([low_value])[0]
    else:
        ticks = [0, height - 1] + ([middle_row] if 0 < middle_row < height - 1 else [])
        centre = (height - 1 - middle_row) * 4 + 1.5
        tick_values = [high_value, low_value, low_value + (high_value - low_value) * centre / (dot_rows - 1)]
        for row, text in zip(ticks, _format_labels(tick_values[:len(ticks)])):
            y_labels[row] = text
    label_width = max(len(text) for text in y_labels)
    indent = " " * (label_width + 2)

    lines: list[str] = []
    if title:
        lines.append((indent + _centered(title, width)).rstrip())
    for r in range(height):
        cells = "".join(chr(0x2800 + bits[r][c]) if bits[r][c] else (glyphs[r][c] or " ") for c in range(width))
        axis = "┤" if y_labels[r] else "│"
        lines.append(f"{y_labels[r]:>{label_width}} {axis}{cells}".rstrip())

    def column_of(step: int) -> int:
        return step * width // extent

    axis_cells = ["─"] * width
    epochs = sorted({s for s in epoch_starts if 0 <= s < extent})
    every = 1
    if len(epochs) > width // 2:
        every = math.ceil(len(epochs) / (width // 2))
    for step in epochs[::every]:
        axis_cells[column_of(step)] = _EPOCH_TICK
    for i, (step, _) in enumerate(markers):
        if 0 <= step < extent:
            axis_cells[column_of(step)] = _MARKER_GLYPHS[i % len(_MARKER_GLYPHS)]
    lines.append(" " * label_width + " └" + "".join(axis_cells))

    # Step numbers under the axis: 0 at the left, the last step ending at its column, the middle
    # one centred on its column (left out where it would touch another).
    numbers = [" "] * width
    last = extent - 1
    last_text = str(last)
    last_start = max(0, column_of(last) - len(last_text) + 1)
    placed = [(0, "0")] if last == 0 else [(0, "0"), (last_start, last_text)]
    middle = extent // 2
    if 0 < middle < last:
        text = str(middle)
        start = min(max(0, column_of(middle) - len(text) // 2), width - len(text))
        if start >= 2 and start + len(text) + 1 <= last_start:
            placed.append((start, text))
    for start, text in placed:
        numbers[start:start + len(text)] = list(text)
    lines.append((indent + "".join(numbers)).rstrip())
    lines.append((indent + _centered("optimizer step", width)).rstrip())

    lines.extend(legend)
    if epochs:
        count = f"{len(epochs)} epoch{'s' if len(epochs) != 1 else ''}"
        shown = f"every {_ordinal(every)} of {count} shown" if every > 1 else count
        lines.append(f"{_EPOCH_TICK} epoch start ({shown})")
    lines.extend(marker_lines)
    if hidden_any:
        lines.append("where curves overlap, the one listed first is drawn")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# image


def save_image(
    path: pathlib.Path,
    curves: Sequence[Curve],
    *,
    epoch_starts: Sequence[int] = (),
    title: str = "",
    markers: Sequence[tuple[int, str]] = (),
) -> None:
    """Write the curves as a ``.png`` (900 x 450 pixels) or ``.svg`` image: one line per curve
    (dashed ones dashed), dotted vertical lines at epoch starts (every k-th where there are more
    than 60), the markers as annotated points, axis labels, legend and title.

    Raises ChartError for another suffix, a folder that does not exist, a file that cannot be
    written, or matplotlib missing. The folder is not created."""
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        shown = repr(path.suffix) if path.suffix else "no suffix"
        raise ChartError(f"cannot write {path}: {shown} is not an image type this can write "
                         f"(use {' or '.join(IMAGE_SUFFIXES)})")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise ChartError(f"cannot write {path}: the directory {parent} {what}")
    try:
        import matplotlib  # first, so that a blocked or missing matplotlib fails here
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as exc:
        raise ChartError(INSTALL_HINT) from exc

    extent = max([len(c.values) for c in curves] + [step + 1 for step, _ in markers] + [1])
    # The user's style is kept, except what would change the size of the picture.
    with matplotlib.rc_context({"savefig.bbox": "standard", "savefig.pad_inches": 0.1}):
        figure = Figure(figsize=_FIGSIZE, dpi=_DPI, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        anything = False
        for curve in curves:
            ys = [v if math.isfinite(v) else math.nan for v in curve.values]
            anything = anything or any(math.isfinite(v) for v in ys)
            axes.plot(range(len(ys)), ys, label=curve.label, linestyle="--" if curve.dashed else "-",
                      marker="." if len(ys) <= 60 else None, linewidth=1.5)
        if not anything:
            axes.text(0.5, 0.5, "no learning-rate values", transform=axes.transAxes,
                      ha="center", va="center", color="0.4")

        epochs = sorted({s for s in epoch_starts if 0 <= s < extent})
        if epochs:
            every = math.ceil(len(epochs) / _MAX_EPOCH_LINES)
            label = "epoch start" + (f" (every {_ordinal(every)})" if every > 1 else "")
            for i, step in enumerate(epochs[::every]):
                axes.axvline(step, linestyle=":", linewidth=0.9, color="0.55", zorder=0,
                             label=label if i == 0 else None)

        for i, (step, text) in enumerate(markers):
            at_y = next((c.values[step] for c in curves
                         if 0 <= step < len(c.values) and math.isfinite(c.values[step])), None)
            if at_y is None:  # no value there: on the x axis
                xy, coords = (step, 0.0), axes.get_xaxis_transform()
            else:
                xy, coords = (step, at_y), axes.transData
            axes.plot([xy[0]], [xy[1]], transform=coords, marker="v" if at_y is not None else "^",
                      color="crimson", markersize=7, linestyle="none", clip_on=False, zorder=5)
            right = step > extent / 2
            axes.annotate(f"step {step}: {text}", xy=xy, xycoords=coords,
                          xytext=(-10 if right else 10, 18 + 13 * (i % 4)), textcoords="offset points",
                          ha="right" if right else "left", fontsize=8, color="crimson",
                          arrowprops={"arrowstyle": "-", "color": "crimson", "linewidth": 0.7})

        if extent > 1:  # every step, also the ones without a finite value or only a marker
            pad = 0.02 * (extent - 1)
            axes.set_xlim(-pad, extent - 1 + pad)
        axes.set_xlabel("optimizer step")
        axes.set_ylabel("learning rate")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(True, alpha=0.25)
        if title:
            axes.set_title(title)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(loc="best", fontsize=8)
        try:
            figure.savefig(path, format=suffix[1:], dpi=_DPI)
        except OSError as exc:
            raise ChartError(f"cannot write {path}: {exc.strerror or exc}") from exc
