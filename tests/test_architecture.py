"""The package's import graph: layered subpackages, no upward import, no cycle, no private
name or private module used across layers, imports at module top.

The layers, lowest first (a module may import its own layer and the layers below):

    foundation  metanmf_lab._config, ._validation, ._optional
    core        estimators, solvers, protocols, task split, evaluation measures
    data        the datasets and their files
    grid        catalogue, settings, runner, store, statistics, reports, replications
    related     one module per related method (their PyTorch parts are private modules)
    book        chapter functions, plotting, diagrams, notebooks' parameters, pipeline

The root package (``metanmf_lab/__init__.py``) re-exports the core and data API for readers;
no module of the package imports it. The graph is read from the source (every ``import``, at
module level or in a function), so the test needs nothing to be importable.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "metanmf_lab"
NAME = "metanmf_lab"
LAYERS = ("foundation", "core", "data", "grid", "related", "book")
FOUNDATION = {"metanmf_lab._config", "metanmf_lab._validation", "metanmf_lab._optional"}

#: Imports allowed inside a function, each for one reason: PyTorch and dask are heavy optional
#: dependencies (requirements-torch.txt, requirements-dask.txt), loaded only when used; the
#: package's PyTorch modules import torch at their top; tqdm.auto warns when it is imported
#: without ipywidgets, so it is imported where that warning is silenced; IPython is there only
#: in a kernel.
ALLOWED_LOCAL = {"torch", "dask.distributed", "tqdm.auto", "IPython",
                 "metanmf_lab.related._metaprior_torch", "metanmf_lab.related._mlam_torch"}


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def is_package(name):
    return MODULES[name].name == "__init__.py"


def layer(name):
    if name in FOUNDATION:
        return 0
    if name == NAME:
        return None
    return LAYERS.index(name.split(".")[1])


def resolve(importer, node):
    """The absolute module of an ``ImportFrom`` in module ``importer``."""
    if node.level == 0:
        return node.module
    base = importer.split(".")
    if not is_package(importer):
        base = base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports():
    """Every import of the package: (importer, imported module, names, line, in a function)."""
    out = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())

        def walk(node, local):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.Import):
                    for a in child.names:
                        out.append((name, a.name, (), child.lineno, local))
                elif isinstance(child, ast.ImportFrom):
                    target = resolve(name, child)
                    names = tuple(a.name for a in child.names)
                    # `from pkg import module`: the edge goes to the module
                    subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
                    if subs and len(subs) == len(names):
                        for s in subs:
                            out.append((name, s, (), child.lineno, local))
                    else:
                        out.append((name, target, names, child.lineno, local))
                walk(child, local or isinstance(child, (ast.FunctionDef,
                                                        ast.AsyncFunctionDef)))
        walk(tree, False)
    return out


IMPORTS = imports()
INTERNAL = [i for i in IMPORTS if i[1] == NAME or i[1].startswith(NAME + ".")]


def test_every_module_is_in_a_layer():
    for name in MODULES:
        if name != NAME:
            assert layer(name) is not None, name


def test_no_upward_import():
    bad = [f"{a} (layer {LAYERS[layer(a)]}) imports {b} (layer {LAYERS[layer(b)]}), line {ln}"
           for a, b, _, ln, _ in INTERNAL
           if a != NAME and b != NAME and layer(b) > layer(a)]
    assert not bad, "\n".join(bad)


def test_nothing_imports_the_root_package():
    bad = [f"{a}:{ln}" for a, b, _, ln, _ in INTERNAL if b == NAME and a != NAME]
    assert not bad, "the root package only re-exports: import from the module instead\n" + \
        "\n".join(bad)


def test_no_import_cycle():
    graph = {}
    for a, b, _, _, _ in INTERNAL:
        if b in MODULES and a != b:
            graph.setdefault(a, set()).add(b)
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in list(MODULES):
        if v not in index:
            strong(v)
    assert not cycles, cycles


def test_private_modules_stay_in_their_subpackage():
    """``core._nmf`` and the like are imported through ``metanmf_lab.core``, not directly,
    from outside ``core``; the foundation's private modules serve every layer."""
    bad = []
    for a, b, _, ln, _ in INTERNAL:
        if b in FOUNDATION or b not in MODULES:
            continue
        leaf = b.rsplit(".", 1)[-1]
        if leaf.startswith("_") and not leaf.startswith("__"):
            owner = b.rsplit(".", 1)[0]
            if not (a == owner or a.startswith(owner + ".")):
                bad.append(f"{a}:{ln} imports the private module {b}")
    assert not bad, "\n".join(bad)


def test_no_private_name_crosses_a_module():
    bad = [f"{a}:{ln} imports {n} from {b}" for a, b, names, ln, _ in INTERNAL for n in names
           if n.startswith("_") and not n.startswith("__")]
    assert not bad, "\n".join(bad)


def test_imports_are_at_module_top():
    bad = [f"{a}:{ln} imports {b} in a function" for a, b, _, ln, local in IMPORTS
           if local and b not in ALLOWED_LOCAL and b.split(".")[0] != "torch"]
    assert not bad, "\n".join(bad)
