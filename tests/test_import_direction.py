"""The package's import graph, read from the source with ``ast``: every import points down
the levels of :data:`LEVELS` (config ← runtime ← data, layers, losses ← models ← convert ←
evaluation ← training ← recipes), never up; within training only the recipes' flag helpers call
the stages; no cycle."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mirrorgan_keras"
# The package's top-level parts, lowest first; a module may import its own part, any part of a
# lower level, and nothing of its own level's other parts or above.
LEVELS = (
    ("config",),
    ("runtime",),  # run files, checkpoints, strategies, precision, quiet TensorFlow
    ("data", "layers", "losses"),
    ("models",),
    ("convert",),
    ("evaluation",),
    ("training",),  # the stages, resumable fit, callbacks, the recipes' flags
)
TOP_LEVEL_MODULES = {"mirrorgan_keras", "mirrorgan_keras.config", "mirrorgan_keras.losses"}
STAGE_CALLERS = {"mirrorgan_keras.training.cli"}  # the recipes' flag helpers (gan_main)


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


def part(module: str) -> str:
    """``mirrorgan_keras.models.damsm`` → ``models``; a top-level module is its own part."""
    return (module.split(".") + [""])[1] or module


def level(module: str) -> int:
    found = [i for i, parts in enumerate(LEVELS) if part(module) in parts]
    assert found, f"{module} is in no level of LEVELS"
    return found[0]


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


def test_every_part_of_the_package_has_a_level():
    for module in import_graph():
        if module != "mirrorgan_keras":
            level(module)


def test_the_top_level_holds_only_the_config_and_the_losses():
    loose = {module for module in module_files() if module.count(".") == 1
             and not (PACKAGE / module.split(".")[1]).is_dir()}
    assert loose | {"mirrorgan_keras"} == TOP_LEVEL_MODULES


def test_every_import_points_down_the_levels():
    wrong = sorted((module, other) for module, imported in import_graph().items()
                   if module != "mirrorgan_keras" for other in imported
                   if part(other) != part(module) and level(other) >= level(module))
    assert wrong == []


def test_only_the_recipe_level_calls_the_stages():
    importers = {module for module, imported in import_graph().items()
                 if "mirrorgan_keras.training.stages" in imported}
    assert importers <= STAGE_CALLERS


def test_the_graph_reader_sees_imports():
    graph = import_graph()
    assert "mirrorgan_keras.runtime.run_files" in graph["mirrorgan_keras.runtime.checkpoint"]
    assert "mirrorgan_keras.training.stages" in graph["mirrorgan_keras.training.cli"]  # in a def
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph()) == []
