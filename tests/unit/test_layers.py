"""The folder tree is the architecture: who may import whom is read off the folders alone.

    ground floor  aepipe/{errors,parameters}.py, images/, storage/, metrics/, degrade/
    runtime       aepipe/runtime/    what a GPU worker runs: ground floor + itself, no torch
    tools         aepipe/tools/      measures (bench, eval): ground, runtime, itself; torch and
                                     the training wing only inside functions (optional rows)
    training      aepipe/training/   torch: ground, runtime (cards, entropy tables), itself
    entry points  aepipe/cli.py, aepipe/demo.py, flows/ (Prefect deployment entrypoints)

Nothing here lists modules by hand: the static check parses every file's imports (function-level
ones too), and the dynamic check imports every module outside ``training/`` with torch made
unimportable, then runs the denoiser, as a GPU worker image without torch would.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "aepipe"
GROUND = {"errors", "parameters", "images", "storage", "metrics", "degrade"}
WINGS = {"runtime", "tools", "training"}
ENTRY_POINTS = {"cli", "demo"}
#: layer -> layers it may import at module level
ALLOWED = {
    "ground": {"ground"},
    "runtime": {"ground", "runtime"},
    "tools": {"ground", "runtime", "tools"},
    "training": {"ground", "runtime", "training", "torch"},
    "entry": {"ground", "runtime", "tools", "training", "entry"},
}
#: imports a layer may make only inside a function (optional, measured extras)
LAZY_ONLY = {"tools": {"training", "torch"}, "entry": {"torch"}}
TORCH = ("torch", "torchvision")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] in TORCH:
        return "torch"
    if parts[0] == "flows":
        return "flows"
    if parts[0] != "aepipe" or len(parts) == 1:
        return "external"
    top = parts[1]
    if top in GROUND:
        return "ground"
    if top in WINGS:
        return top
    if top in ENTRY_POINTS:
        return "entry"
    raise AssertionError(f"{module}: aepipe/{top} belongs to no layer; add it to the table")


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, inside a function) for every import statement of a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                found.append((child.module, in_function))
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                continue  # annotations only: never imported at run time
            visit(child, nested)

    visit(tree, False)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_import_respects_the_layers(path: Path) -> None:
    layer = layer_of(module_name(path))
    for target, lazy in imports(path):
        target_layer = layer_of(target)
        if target_layer == "external":
            continue
        assert target_layer != "flows", f"{path}: aepipe never imports the flows/ entrypoints"
        if target_layer in ALLOWED[layer]:
            continue
        assert lazy and target_layer in LAZY_ONLY.get(layer, set()), (
            f"{path} ({layer}) imports {target} ({target_layer})"
            + (" at module level" if not lazy else "")
        )


#: modules that turn bytes into code objects: loading an untrusted file with them runs it
PICKLERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
RUNTIME_SOURCES = [p for p in SOURCES if layer_of(module_name(p)) in ("ground", "runtime")]


@pytest.mark.parametrize("path", RUNTIME_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_pickle_in_the_runtime(path: Path) -> None:
    """Models are ONNX (protobuf), cards and reports JSON: nothing a worker loads can run code."""
    assert not {target.split(".")[0] for target, _ in imports(path)} & PICKLERS, path
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.keyword) and node.arg == "allow_pickle":
            assert isinstance(node.value, ast.Constant) and node.value.value is False, path


def test_prefect_never_persists_results_with_its_pickle_serializer() -> None:
    from aepipe.runtime import flow

    for runnable in (flow.process_images, flow.process_chunk_task, flow.write_report_task):
        assert runnable.persist_result is False, runnable.name


def test_the_table_covers_every_folder() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    files = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert folders | files <= GROUND | WINGS | ENTRY_POINTS


TORCH_FREE = [
    module_name(p)
    for p in SOURCES
    if layer_of(module_name(p)) != "training" and p.name != "__main__.py"
]
RUNTIME = [m for m in TORCH_FREE if layer_of(m) in ("ground", "runtime")]

SCRIPT = textwrap.dedent(
    """
    import importlib, io, sys
    import importlib.abc

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision"):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by test)")

    sys.meta_path.insert(0, NoTorch())
    runtime, others = sys.argv[1].split(","), sys.argv[2].split(",")
    for name in runtime:
        importlib.import_module(name)
    importlib.import_module("flows.process_images")
    wings = [m for m in sys.modules if m.startswith(("aepipe.tools", "aepipe.training"))]
    assert not wings, f"the runtime pulled in {wings}"

    import numpy as np
    from PIL import Image
    from aepipe.images import decode
    from aepipe.runtime.options import TaskOptions
    from aepipe.runtime.tasks.build import build_task

    buffer = io.BytesIO()
    Image.fromarray(np.full((24, 24, 3), 120, np.uint8)).save(buffer, format="PNG")
    image = decode(buffer.getvalue(), "x.png")
    task = build_task(TaskOptions(task="denoise", noise_level=10.0))
    assert task.apply(image).pixels.shape == (24, 24, 3)
    for name in others:
        importlib.import_module(name)
    assert not any(m.split(".")[0] == "torch" for m in sys.modules)
    print("ok")
    """
)


def test_runtime_and_tools_import_and_denoise_with_torch_unimportable() -> None:
    others = [m for m in TORCH_FREE if m not in RUNTIME]
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, ",".join(RUNTIME), ",".join(others)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
