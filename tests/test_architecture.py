"""The house stays visible: the import graph of gan_utils, parsed from the source (nothing is imported).

Guards against: an import circle (cli <-> experiment once), the reusable library reaching into the
lessons' wing, and anything importing the CLI (a leaf: argparse in, library calls out).
"""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "gan_utils"
REPO = PKG.parent
#: lesson-side packages: they may import the library, never the other way round
LESSON_SIDE = ("gan_utils.lessons", "gan_utils.exercises")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set:
    """gan_utils modules imported by ``path`` (at any depth: function-level imports count too)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("gan_utils")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("gan_utils"):
                continue
            for a in node.names:  # `from . import theory` imports the module gan_utils.theory
                sub = f"{mod}.{a.name}"
                out.add(sub if (PKG.parent / (sub.replace(".", "/") + ".py")).exists()
                        or (PKG.parent / sub.replace(".", "/")).is_dir() else mod)
    return {m for m in out if m != name}


def _graph() -> dict:
    return {_module_name(p): _imports(p) for p in PKG.rglob("*.py")}


def _on_lesson_side(mod: str) -> bool:
    return mod.startswith(LESSON_SIDE)


def test_no_import_circle():
    graph = _graph()

    def resolve(m):  # a package import counts as an import of its __init__
        return m if m in graph else None

    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(filter(None, map(resolve, graph[m]))):
            if state.get(n) == "open":
                cycle = stack[stack.index(n):] + [n]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_library_never_imports_a_lesson():
    bad = [f"{m} imports {n}" for m, deps in _graph().items() if not _on_lesson_side(m)
           for n in deps if _on_lesson_side(n)]
    assert not bad, "the reusable library must not depend on lesson helpers:\n  " + "\n  ".join(bad)


def test_the_cli_is_a_leaf():
    users = [m for m, deps in _graph().items() if "gan_utils.cli" in deps and m != "gan_utils.__main__"]
    assert not users, f"nothing but `python -m gan_utils` may import the CLI: {users}"
    for folder in ("notebooks", "tests", "solutions", "scripts", "benchmarks"):
        for p in (REPO / folder).rglob("*"):
            if p.suffix in (".py", ".ipynb") and p.name != Path(__file__).name and p.name != "test_cli.py" \
                    and p.name != "test_bad_inputs.py":
                assert "gan_utils.cli" not in p.read_text(), f"{p.relative_to(REPO)} imports the CLI"


def test_the_parser_sees_real_imports():
    # the checks above are only as good as the parser: it must find a known edge of each kind
    graph = _graph()
    assert "gan_utils.train" in graph["gan_utils.lessons.toys"]         # from ..train import ...
    assert "gan_utils.lessons.theory" in graph["gan_utils.lessons.toys"]  # from . import theory
    assert "gan_utils.data" in graph["gan_utils.metrics.fid"]           # function-level from ..data import
