"""The import DAG of shared/design.md: no cycles (lazy imports included), and `make lint`'s layers
contract breaks on an import against the layer order."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[2]


def _graph() -> grimp.ImportGraph:
    # grimp reads every import statement, the ones inside functions too.
    return grimp.build_graph("rns_bench", "baselines", include_external_packages=False)


def _pop_component(stack: list[str], on_stack: set[str], root: str) -> set[str]:
    """Tarjan's component of ``root``: the stack down to ``root``, popped."""
    component = set()
    while True:
        member = stack.pop()
        on_stack.discard(member)
        component.add(member)
        if member == root:
            return component


def _strongly_connected(nodes: set[str], edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative; components of more than one node (or a self-loop)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = _pop_component(stack, on_stack, node)
                    if len(component) > 1 or node in edges.get(node, ()):
                        found.append(component)
            elif child not in index:
                index[child] = low[child] = counter[0]
                counter[0] += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def _edges(graph: grimp.ImportGraph, collapse) -> tuple[set[str], dict[str, set[str]]]:
    nodes, edges = set(), {}
    for module in graph.modules:
        if module.endswith(".__main__"):  # entry points: nothing imports them, they are no part of a cycle
            continue
        source = collapse(module)
        nodes.add(source)
        for imported in graph.find_modules_directly_imported_by(module):
            target = collapse(imported)
            if target != source:
                edges.setdefault(source, set()).add(target)
    return nodes, edges


def _subpackage(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_tarjan_finds_a_planted_cycle():
    nodes = {"a", "b", "c", "d"}
    assert _strongly_connected(nodes, {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert _strongly_connected(nodes, {"a": {"b"}, "b": {"c"}, "d": {"a"}}) == []


def test_no_module_import_cycles():
    graph = _graph()
    assert _strongly_connected(*_edges(graph, lambda m: m)) == []


def test_no_subpackage_import_cycles():
    """rns_bench.data ↔ rns_bench.toy and the like: sub-packages form a DAG too."""
    graph = _graph()
    assert _strongly_connected(*_edges(graph, _subpackage)) == []


LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed (make setup installs it)")
def test_layers_contract_breaks_on_an_upward_import(tmp_path):
    for folder in ("rns_bench", "baselines"):
        shutil.copytree(REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    command = [str(LINT_IMPORTS)]
    kept = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert kept.returncode == 0, kept.stdout + kept.stderr
    resize = tmp_path / "rns_bench" / "ops" / "resize.py"
    resize.write_text(resize.read_text() + "\nfrom rns_bench.report import leaderboard  # noqa\n")
    broken = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert broken.returncode != 0
    assert "rns_bench.ops.resize -> rns_bench.report.leaderboard" in broken.stdout
