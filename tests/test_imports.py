"""The layers of infonas, read from its module-level imports: no cycle, reporting draws without training.

The graph is built from the source (ast), so a new import that breaks a layer fails here before
anyone has to find the circle by hand. Imports inside function bodies are left out on purpose: each
is lazy for a reason its comment gives (no torch at DAG-build time, one library per image source).
"""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "infonas"

#: modules the Snakefile imports while it builds the DAG: they stay light (rules/common.smk)
DAG_BUILD_MODULES = ("infonas.config", "infonas.errors", "infonas.files", "infonas.models.variants",
                     "infonas.plan", "infonas.resources", "infonas.slurm", "infonas.sweep")
HEAVY = ("torch", "h5py", "pandas", "sklearn", "matplotlib")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path, modules: set[str]) -> set[str]:
    """infonas modules `path` imports outside function bodies (`from infonas.x import y` counts y
    when y is a module itself, else x)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("infonas")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("infonas"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: top_level_imports(path, modules) & modules - {name, "infonas"} for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_graph_sees_known_edges():
    graph = import_graph()
    assert "infonas.evaluation.predictor" in graph["infonas.evaluation.assessor"]
    assert "infonas.searchspace.metrics" in graph["infonas.searchspace.store"]


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_find_cycle_reports_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_reporting_draws_without_training_or_models():
    graph = import_graph()
    edges = [(m, dep) for m, deps in graph.items() if m.startswith("infonas.reporting")
             for dep in deps if dep.startswith(("infonas.training", "infonas.models", "infonas.nets"))]
    assert not edges


def test_searchspace_does_not_import_data():
    graph = import_graph()
    edges = [(m, dep) for m, deps in graph.items() if m.startswith("infonas.searchspace")
             for dep in deps if dep.startswith("infonas.data")]
    assert not edges


def private_names_used_across_modules(path: Path) -> list[str]:
    """`from infonas.x import _y` and `x._y` where x is an imported infonas module, in one file."""
    tree = ast.parse(path.read_text())
    modules = {}  # local name -> infonas module it is bound to
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {(a.asname or a.name): a.name for a in node.names if a.name.startswith("infonas.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("infonas"):
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
            modules |= {(a.asname or a.name): f"{node.module}.{a.name}" for a in node.names}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{modules[node.value.id]}.{node.attr}")
    return found


def test_no_private_name_used_across_modules():
    found = {module_name(p): names for p in PACKAGE.rglob("*.py") if (names := private_names_used_across_modules(p))}
    assert not found


def test_dag_build_modules_import_nothing_heavy():
    code = (f"import sys\nfor m in {DAG_BUILD_MODULES!r}: __import__(m)\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
