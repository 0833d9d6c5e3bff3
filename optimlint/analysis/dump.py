"""Print the traces of a file: ``python -m optimlint.analysis.dump train.py`` (a debugging aid)."""

from __future__ import annotations

import sys

from . import syntax as cst

from . import build_model
from .trace import Arm, Branch, Context, Event, Handler, Inline, Loop, Node, Unordered


def _objs(event: Event) -> str:
    return ", ".join(f"{o.kind}:{o.label}#{o.uid}" for o in sorted(event.objs, key=lambda o: o.uid))


def _dump(model, nodes: list[Node], depth: int, out: list[str]) -> None:  # type: ignore[no-untyped-def]
    pad = "  " * depth
    for node in nodes:
        if isinstance(node, Event):
            line = model.position(node.node).start.line
            extra = f" targets=[{', '.join(o.label for o in node.targets)}]" if node.targets else ""
            method = f".{node.method}" if node.method else ""
            out.append(f"{pad}{line:4d} {node.kind}{method} [{_objs(node)}]{extra}")
        elif isinstance(node, Loop):
            out.append(f"{pad}loop ({node.kind}) line {model.position(node.node).start.line}")
            _dump(model, node.body, depth + 1, out)
        elif isinstance(node, Context):
            out.append(f"{pad}with ({node.kind})")
            _dump(model, node.body, depth + 1, out)
        elif isinstance(node, Inline):
            out.append(f"{pad}call {node.func.name.value}()")
            _dump(model, node.body, depth + 1, out)
        elif isinstance(node, Handler):
            out.append(f"{pad}handler {node.event}")
            _dump(model, node.body, depth + 1, out)
        elif isinstance(node, (Branch, Unordered)):
            out.append(f"{pad}{'branch' if isinstance(node, Branch) else 'unordered'}")
            for arm in node.arms:
                assert isinstance(arm, Arm)
                out.append(f"{pad}  arm{' (except)' if arm.exceptional else ''}")
                _dump(model, arm.body, depth + 2, out)


def main(path: str) -> int:
    model = build_model(cst.parse(open(path, encoding="utf-8").read()))
    out: list[str] = []
    for root in model.roots:
        name = getattr(getattr(root.node, "name", None), "value", "<module>")
        out.append(f"== root {name}")
        _dump(model, root.body, 1, out)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
