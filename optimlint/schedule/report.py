"""What ``optimlint schedule`` prints: a chart per scheduled optimizer, the values it assumed, and
optionally the same curves after ``optimlint --fix``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .chart import Curve
from .simulate import Simulation, Track, simulate
from .values import Note

_LINE = re.compile(r"\bline (\d+)")


@dataclass
class Schedule:
    path: str
    simulation: Simulation
    fixed: Simulation | None = None
    fixed_by: tuple[str, ...] = ()  # "OPT303 (line 40)" for each fix applied
    fix_label: str = ""
    # a notebook: for each program line, its (code cell, line in cell); None for a plain file
    cells: list[tuple[int, int] | None] | None = None

    def where(self, text: str) -> str:
        """``line N`` of the program as ``cell C, line L`` in a notebook."""
        if self.cells is None:
            return text
        cells = self.cells

        def one(match: re.Match[str]) -> str:
            number = int(match.group(1))
            found = cells[number - 1] if 0 < number <= len(cells) else None
            return f"cell {found[0]}, line {found[1]}" if found else match.group(0)

        return _LINE.sub(one, text)

    def pairs(self) -> list[tuple[Track, Track | None]]:
        tracks = self.simulation.scheduled()
        if self.fixed is None:
            return [(t, None) for t in tracks]
        fixed = self.fixed.scheduled()
        out = []
        for i, track in enumerate(tracks):
            same = [f for f in fixed if (f.label, f.cls) == (track.label, track.cls)]
            index = [t for t in tracks if (t.label, t.cls) == (track.label, track.cls)].index(track)
            out.append((track, same[index] if index < len(same) else (fixed[i] if i < len(fixed) else None)))
        return out


def build(source: str, path: str, overrides: Mapping[str, object], compare_fixed: bool, max_steps: int) -> Schedule:
    from ..engine import fix_source

    schedule = Schedule(path, simulate(source, path, overrides, max_steps))
    if compare_fixed:
        result = fix_source(source, path, unsafe_fixes=True)
        unsafe = any(d.fix is not None and d.fix.applicability == "unsafe" for d in result.fixed)
        schedule.fix_label = "after optimlint --fix" + (" --unsafe-fixes" if unsafe else "")
        schedule.fixed_by = tuple(f"{d.code} (line {d.line})" for d in result.fixed)
        schedule.fixed = simulate(result.source, path, overrides, max_steps) if result.changed else schedule.simulation
    return schedule


def curves(track: Track, fixed: Track | None, fix_label: str) -> list[Curve]:
    out = []
    for i, series in enumerate(track.series):
        name = track.label if track.groups == 1 else f"{track.label} group {i}"
        out.append(Curve(name, tuple(series)))
    if fixed is not None:
        for i, series in enumerate(fixed.series):
            name = fixed.label if fixed.groups == 1 else f"{fixed.label} group {i}"
            out.append(Curve(f"{name}, {fix_label}", tuple(series), dashed=True))
    return out


def heading(track: Track) -> list[str]:
    lines = [f"`{track.label}` ({track.cls}, line {track.line}): {track.steps} optimizer steps, "
             f"{track.groups} param group{'s' if track.groups != 1 else ''}"]
    for s in track.schedulers:
        where = f"stepped at {', '.join(s.stepped_at)}" if s.stepped_at else "not stepped directly"
        text = f"  scheduled by `{s.label}` ({s.cls}, line {s.line}), {where}"
        if s.problem:
            text += f"; NOT SIMULATED: {s.problem}"
        lines.append(text)
    return lines


def render_text(schedule: Schedule, width: int, height: int) -> str:
    from .chart import terminal_chart

    blocks: list[str] = []
    pairs = schedule.pairs()
    if not pairs:
        blocks.append(f"{schedule.path}: no optimizer with a learning-rate scheduler was found")
    for track, fixed in pairs:
        lines = [f"{schedule.path}: " + heading(track)[0], *heading(track)[1:]]
        if fixed is not None and schedule.fixed_by:
            lines.append(f"  dashed: {schedule.fix_label} (fixes {', '.join(schedule.fixed_by)})")
        elif schedule.fixed is not None:
            lines.append("  optimlint --fix changes nothing here: the curve after the fix is the same")
        markers = list(track.markers)
        if fixed is not None and schedule.fixed_by:
            markers += [(step, f"after the fix: {text}") for step, text in fixed.markers]
        lines.append(terminal_chart(curves(track, fixed if schedule.fixed_by else None, schedule.fix_label),
                                    epoch_starts=track.epoch_starts, width=width, height=height,
                                    title=f"learning rate of `{track.label}`", markers=markers).rstrip("\n"))
        blocks.append("\n".join(lines))
    notes = _notes(schedule.simulation.notes)
    if notes:
        blocks.append("values used:\n" + "\n".join(f"  {n}" for n in notes))
    if schedule.simulation.stopped:
        blocks.append(f"the simulated run stopped: {schedule.simulation.stopped}")
    return schedule.where("\n\n".join(blocks)) + "\n"


def _notes(notes: list[Note]) -> list[Note]:
    order = {"--set": 0, "derived": 1, "argparse default": 2, "assumed": 3}
    return sorted(notes, key=lambda n: order.get(n.origin, 9))


def to_json(schedule: Schedule) -> dict[str, object]:
    pairs = schedule.pairs()
    out: dict[str, object] = {
        "path": schedule.path,
        "optimizers": [track.to_json() for track, _ in pairs],
        "values": [{"name": n.name, "value": n.value if isinstance(n.value, (int, float, str, bool)) else repr(n.value),
                    "origin": n.origin, "hint": n.hint} for n in _notes(schedule.simulation.notes)],
        "stopped": schedule.simulation.stopped,
    }
    if schedule.cells is not None:
        out = _in_cells(out, schedule)
    if schedule.fixed is not None:
        out["fixed"] = {
            "label": schedule.fix_label,
            "fixes": list(schedule.fixed_by),
            "optimizers": [fixed.to_json() if fixed is not None else None for _, fixed in pairs],
        }
    return out


def save(schedule: Schedule, output: Path) -> list[Path]:
    """One image per scheduled optimizer: ``lr.png``, or ``lr-1-<name>.png``, ``lr-2-<name>.png``
    when there are several (two optimizers may have the same name in different functions)."""
    from .chart import save_image

    pairs = schedule.pairs()
    written = []
    for number, (track, fixed) in enumerate(pairs, start=1):
        target = output if len(pairs) == 1 else output.with_name(
            f"{output.stem}-{number}-{track.label.replace('.', '_')}{output.suffix}")
        markers = [(step, schedule.where(text)) for step, text in track.markers]
        save_image(target, curves(track, fixed if schedule.fixed_by else None, schedule.fix_label),
                   epoch_starts=track.epoch_starts, markers=markers,
                   title=f"{Path(schedule.path).name}: `{track.label}` ({track.cls}) with "
                         + ", ".join(s.cls for s in track.schedulers))
        written.append(target)
    return written


def _in_cells(value: object, schedule: Schedule) -> object:
    """JSON of a notebook: ``"line": N`` of the program becomes ``"cell": C, "line": L``, and
    ``line N`` in texts ``cell C, line L``."""
    cells = schedule.cells or []
    if isinstance(value, dict):
        out = {k: _in_cells(v, schedule) for k, v in value.items()}
        line = value.get("line")
        if isinstance(line, int) and 0 < line <= len(cells) and cells[line - 1] is not None:
            out["cell"], out["line"] = cells[line - 1]
        return out
    if isinstance(value, list):
        return [_in_cells(v, schedule) for v in value]
    if isinstance(value, str):
        return schedule.where(value)
    return value
