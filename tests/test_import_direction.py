"""The package's import graph, read from the source with ``ast``: layers ← models ←
workflows ← recipes; data, losses, config and the runtime below the models; evaluation uses
models and data, never the workflows."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mirrorgan_keras"
RECIPE_LEVEL = {"mirrorgan_keras.cli"}  # the recipes' flag helpers: may call the workflows
BELOW_MODELS = ("config", "run_files", "data", "layers", "losses", "distribute", "precision",
                "checkpoint", "training", "callbacks", "profiling", "figures")
MODELS_AND_ABOVE = ("models", "evaluation", "export", "convert", "workflows", "cli")


def module_files() -> dict[str, Path]:
    """``{dotted module name: file}`` of every module of the package."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """``{module: the package's modules it imports}`` (also inside functions and
    ``TYPE_CHECKING`` blocks); ``from a import b`` counts as importing ``a.b`` when that is a
    module."""
    modules = module_files()
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    found.add(submodule if submodule in modules else node.module)
        graph[name] = {other for other in found if other in modules and other != name}
    return graph


def within(module: str, parts) -> bool:
    return any(module == f"mirrorgan_keras.{part}"
               or module.startswith(f"mirrorgan_keras.{part}.") for part in parts)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle found by a depth-first search, as the list of its modules."""
    found, state = [], {}

    def visit(module, path):
        state[module] = "open"
        for other in sorted(graph[module]):
            if state.get(other) == "open":
                found.append(path[path.index(other):] + [other])
            elif other not in state:
                visit(other, [*path, other])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_only_the_recipe_level_imports_the_workflows():
    importers = {module for module, imported in import_graph().items()
                 if "mirrorgan_keras.workflows" in imported}
    assert importers <= RECIPE_LEVEL


def test_nothing_below_the_models_imports_them_or_anything_above():
    wrong = {module: sorted(other for other in imported if within(other, MODELS_AND_ABOVE))
             for module, imported in import_graph().items() if within(module, BELOW_MODELS)}
    assert not {module: others for module, others in wrong.items() if others}


def test_the_graph_reader_sees_imports():
    graph = import_graph()
    assert "mirrorgan_keras.run_files" in graph["mirrorgan_keras.checkpoint"]
    assert "mirrorgan_keras.workflows" in graph["mirrorgan_keras.cli"]  # inside a function
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph()) == []
