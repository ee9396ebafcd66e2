"""The stand-in ``nuke`` module must not drift from Nuke's API as the types-nuke stubs describe it.

An AST comparison (``stubtest`` crashes on these stubs): every public name of the stand-in
exists in the stubs; every public function and method has the stubs' parameter names, order
and optional-ness; every stand-in base class is an ancestor in the stubs.
"""

from __future__ import annotations

import ast
import functools
import os
import sysconfig

import pytest

STUBS = os.path.join(sysconfig.get_paths()["purelib"], "nuke-stubs")
STANDIN = os.path.join(os.path.dirname(__file__), "nuke_standin", "nuke")
DUNDERS_CHECKED = {"__getitem__", "__len__", "__iter__", "__enter__", "__exit__", "__contains__",
                   "__setitem__"}


@functools.cache
def _tree(path: str) -> ast.Module:
    with open(path) as fh:
        return ast.parse(fh.read())


class StubModule:
    """Names a stub module exports, following ``from .x import *`` and ``import ... as``."""

    cache: dict[str, dict[str, ast.AST]] = {}  # noqa: RUF012 - a memo shared on purpose

    @classmethod
    def names(cls, module: str) -> dict[str, ast.AST]:
        if module in cls.cache:
            return cls.cache[module]
        tree = _tree(os.path.join(STUBS, "__init__.pyi" if module == "" else module + ".pyi"))
        out: dict[str, ast.AST] = {}
        cls.cache[module] = out
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module is not None:
                source = node.module.lstrip(".")
                if not os.path.exists(os.path.join(STUBS, source + ".pyi")):
                    continue
                for alias in node.names:
                    if alias.name == "*":
                        out.update(cls.names(source))
                    elif alias.name in cls.names(source):
                        out[alias.asname or alias.name] = cls.names(source)[alias.name]
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                if isinstance(node, ast.FunctionDef) and node.name in out and isinstance(
                        out[node.name], (ast.FunctionDef, list)):
                    prev = out[node.name]
                    out[node.name] = (prev if isinstance(prev, list) else [prev]) + [node]
                else:
                    out[node.name] = node
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                out[node.target.id] = node
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        out[t.id] = node
        return out


def _all_stub_classes() -> dict[str, dict[str, ast.ClassDef]]:
    """Stub classes per stub file (two files define a ``Layer``)."""
    found: dict[str, dict[str, ast.ClassDef]] = {}
    for name in sorted(os.listdir(STUBS)):
        if name.endswith(".pyi"):
            tree = _tree(os.path.join(STUBS, name))
            found[name] = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    return found


STUB_CLASSES = _all_stub_classes()


def _find_class(name: str, prefer: str) -> tuple[str, ast.ClassDef] | None:
    if name in STUB_CLASSES.get(prefer, {}):
        return prefer, STUB_CLASSES[prefer][name]
    for file, classes in STUB_CLASSES.items():
        if name in classes:
            return file, classes[name]
    return None


def _base_names(cls: ast.ClassDef) -> list[str]:
    out = []
    for b in cls.bases:
        if isinstance(b, ast.Name):
            out.append(b.id)
        elif isinstance(b, ast.Attribute):
            out.append(b.attr)
        elif isinstance(b, ast.Subscript) and isinstance(b.value, ast.Name):
            out.append(b.value.id)
    return out


def _ancestors(cls: ast.ClassDef) -> list[ast.ClassDef]:
    """The stub class and its stub bases, nearest first (bases looked up in the same file)."""
    file = next(f for f, classes in STUB_CLASSES.items() if cls in classes.values())
    out: list[ast.ClassDef] = []
    todo = [(file, cls)]
    while todo:
        file, c = todo.pop(0)
        if c in out:
            continue
        out.append(c)
        for base in _base_names(c):
            found = _find_class(base, file)
            if found:
                todo.append(found)
    return out


def _methods(cls: ast.ClassDef, name: str) -> list[ast.FunctionDef]:
    return [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == name]


def _shape(fn: ast.FunctionDef, method: bool) -> tuple:
    a = fn.args
    positional = a.posonlyargs + a.args
    if method and positional:
        positional = positional[1:]
    n_default = len(a.defaults)
    params = tuple((p.arg, i >= len(positional) - n_default) for i, p in enumerate(positional))
    kwonly = tuple((p.arg, d is not None) for p, d in zip(a.kwonlyargs, a.kw_defaults))
    return params, kwonly, a.vararg is not None, a.kwarg is not None


def _compatible(standin: ast.FunctionDef, stubs: list[ast.FunctionDef], method: bool) -> str:
    mine = _shape(standin, method)
    for stub in stubs:
        theirs = _shape(stub, method)
        if theirs[0] == () and theirs[2] and theirs[3]:
            return ""  # the stub says nothing about the parameters
        if mine == theirs:
            return ""
    if len(stubs) > 1 and mine[0] == () and mine[2] and mine[3]:
        return ""  # overloads: the stand-in takes all of them
    return f"stand-in {mine} vs stubs {[_shape(s, method) for s in stubs]}"


def _public(tree: ast.Module) -> dict[str, ast.AST]:
    out: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            out[node.name] = node
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name) and not t.id.startswith("_"):
                    out[t.id] = node
    return out


MODULES = [("__init__", ""), ("rotopaint", "rotopaint"), ("curvelib", "curvelib")]


def _problems(standin_file: str, stub_module: str) -> list[str]:
    with open(os.path.join(STANDIN, standin_file + ".py")) as fh:
        tree = ast.parse(fh.read())
    stub = StubModule.names(stub_module)
    problems = []
    for name, node in _public(tree).items():
        where = f"nuke{'.' + stub_module if stub_module else ''}.{name}"
        if name not in stub:
            problems.append(f"{where} is not in the stubs")
            continue
        target = stub[name]
        if isinstance(node, ast.FunctionDef):
            stubs = target if isinstance(target, list) else [target]
            if not all(isinstance(s, ast.FunctionDef) for s in stubs):
                problems.append(f"{where} is a function, the stubs say otherwise")
                continue
            why = _compatible(node, stubs, method=False)
            if why:
                problems.append(f"{where}: {why}")
        elif isinstance(node, ast.ClassDef):
            if not isinstance(target, ast.ClassDef):
                problems.append(f"{where} is a class, the stubs say otherwise")
                continue
            lineage = {n for c in _ancestors(target) for n in [c.name, *_base_names(c)]}
            for base in _base_names(node):
                if not base.startswith("_") and base not in lineage:
                    problems.append(f"{where}: base {base} is not an ancestor in the stubs")
            for item in node.body:
                if not isinstance(item, ast.FunctionDef) or item.name == "__init__":
                    continue
                if item.name.startswith("_") and item.name not in DUNDERS_CHECKED:
                    continue
                stubs = next((m for c in _ancestors(target)
                              if (m := _methods(c, item.name))), [])
                if not stubs:
                    problems.append(f"{where}.{item.name} is not in the stubs")
                    continue
                why = _compatible(item, stubs, method=True)
                if why:
                    problems.append(f"{where}.{item.name}: {why}")
    return problems


@pytest.mark.parametrize(("standin_file", "stub_module"), MODULES)
def test_standin_matches_stubs(standin_file, stub_module):
    assert _problems(standin_file, stub_module) == []


def test_drift_check_catches_a_misspelt_function(tmp_path, monkeypatch):
    """The check itself works: a wrong name and a wrong signature are both reported."""
    (tmp_path / "fake.py").write_text(
        "def createNode(type, knobs=''):\n    pass\n"
        "def toNodes(s):\n    pass\n"
        "class Node:\n    def setInput(self, index, node):\n        pass\n")
    monkeypatch.setattr(__import__(__name__), "STANDIN", str(tmp_path))
    problems = _problems("fake", "")
    assert any("nuke.toNodes is not in the stubs" in p for p in problems)
    assert any(p.startswith("nuke.createNode:") for p in problems)
    assert any(p.startswith("nuke.Node.setInput:") for p in problems)
    assert len(problems) == 3
