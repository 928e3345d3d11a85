"""The package's architecture: folders are layers, imports point one way, old paths still work."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fsanet"

LAYERS = {
    "errors": 0, "_moved": 0,
    "core": 1,
    "model": 2,
    "faces": 3, "deploy": 3,
    "data": 4, "video": 4,
    "hub": 5,
    "experiments": 6, "api": 6,
    "serving": 7, "batch": 7,
    "commands": 8, "cli": 8, "__main__": 8,
}
"""The layer of each top-level part of ``fsanet``, written once: a module may import its own
folder and lower layers only (parts on one layer do not import each other)."""


def _modules():
    """{module name: [(imported fsanet module, line, top level?)]} read from the source (ast)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imports = []
        tree = ast.parse(path.read_text())
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
                targets = [base]
                # "from fsanet.video import tracking" imports the module fsanet.video.tracking
                targets += [f"{base}.{alias.name}" for alias in node.names
                            if (PACKAGE.parent / f"{base}.{alias.name}".replace(".", "/")).with_suffix(".py").exists()]
            else:
                continue
            imports += [(t, node.lineno, id(node) in top) for t in targets if t.startswith("fsanet.")]
        found[name] = imports
    return found


def _part(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_part_of_the_package_has_a_layer():
    assert {_part(m) for m in _modules()} - {None} <= set(LAYERS)


def _upward(modules):
    """"module:line imports target" for each import of a part on the same or a higher layer."""
    return [f"{module}:{line} imports {target}"
            for module, imports in modules.items() for target, line, _ in imports
            if _part(module) and _part(target) and _part(module) != _part(target)
            and LAYERS[_part(module)] <= LAYERS[_part(target)]
            and not (LAYERS[_part(module)] == LAYERS[_part(target)] == 8)]


def _circles(modules):
    """Each import circle between modules, counting imports inside functions too."""
    graph = {m: {t for t, _, _ in imports if t in modules and t != m} for m, imports in modules.items()}
    state, circles = {}, []

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                circles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return circles


def test_lower_layers_never_import_higher_ones():
    assert not _upward(_modules())


def test_no_import_circle():
    assert not _circles(_modules())


def test_the_checks_find_what_they_look_for():
    """An upward import, a same-layer import across parts and a circle, written into a copy of the
    real graph, are each reported."""
    modules = _modules()
    modules["fsanet.core.pose"] = modules["fsanet.core.pose"] + [("fsanet.hub.model_spec", 1, False)]
    modules["fsanet.faces.crop"] = modules["fsanet.faces.crop"] + [("fsanet.deploy.export", 2, True)]
    assert _upward(modules) == ["fsanet.core.pose:1 imports fsanet.hub.model_spec",
                                "fsanet.faces.crop:2 imports fsanet.deploy.export"]
    assert any("fsanet.core.pose" in circle for circle in _circles(modules))


# ------------------------------------------------------------------- the paths of release 1.1

DOCUMENTED_OLD_PATHS = [
    ("fsanet.model_spec", "resolve_model", "fsanet.hub.model_spec"),
    ("fsanet.inference", "fold_batch_norm", "fsanet.model.inference_form"),
    ("fsanet.inference", "PosePredictor", "fsanet.deploy.predictor"),
    ("fsanet.exports", "read_metadata", "fsanet.deploy.export"),
    ("fsanet.pose", "rotation_from_pose", "fsanet.core.pose"),
    ("fsanet.pretrained", "fetch", "fsanet.hub.pretrained"),
    ("fsanet.io", "check_output", "fsanet.core.outputs"),
    ("fsanet.detectors", "default_detector", "fsanet.faces.detectors"),
    ("fsanet.augment", "training_dataset", "fsanet.data.augment"),
    ("fsanet.backends", "ExportedModel", "fsanet.deploy.runners"),
    ("fsanet.tracking", "iou", "fsanet.faces.boxes"),
    ("fsanet.annotate", "suppress_duplicates", "fsanet.faces.boxes"),
]


def test_each_old_module_path_gives_the_same_objects_and_one_warning():
    """In a fresh interpreter (each old module imported for the first time): ``from old import name``
    and ``import old`` warn once, naming the new path, at the importing line, and give the object of
    the new path."""
    code = ("import importlib, json, sys, warnings\n"
            "warnings.simplefilter('always')\n"
            "results = []\n"
            "for old, name, new in json.loads(sys.argv[1]):\n"
            "    with warnings.catch_warnings(record=True) as caught:\n"
            "        exec(f'from {old} import {name} as value; import {old}')\n"
            "    moved = [w for w in caught if w.category is DeprecationWarning]\n"
            "    same = value is getattr(importlib.import_module(new), name)\n"
            "    results.append([old, name, same, [str(w.message) for w in moved], [w.filename for w in moved]])\n"
            "print(json.dumps(results))\n")
    result = subprocess.run([sys.executable, "-c", code, json.dumps(DOCUMENTED_OLD_PATHS)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    first_import = set()
    for old, name, same, messages, files in results:
        assert same, f"{old}.{name} is not the new path's object"
        expected = 0 if old in first_import else 1  # one warning per old module
        assert len(messages) == expected and all(f"{old} moved to " in m for m in messages), (old, messages)
        assert all(f == "<string>" for f in files), files  # the warning points at the import
        first_import.add(old)


def test_a_documented_old_name_of_a_module_that_became_a_package():
    data, npz = importlib.import_module("fsanet.data"), importlib.import_module("fsanet.data.npz")
    with pytest.warns(DeprecationWarning, match="fsanet.data.filter_angle_range moved to fsanet.data.npz"):
        assert data.filter_angle_range is npz.filter_angle_range


def test_monkeypatching_an_old_path_patches_the_new_module(monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = importlib.import_module("fsanet.model_spec")
    new = importlib.import_module("fsanet.hub.model_spec")
    original = new.resolve_model
    monkeypatch.setattr(old, "resolve_model", "patched")
    assert new.resolve_model == "patched"
    monkeypatch.undo()
    assert new.resolve_model is original


def test_new_paths_import_without_any_deprecation_warning():
    code = ("import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
            "import pkgutil, importlib, fsanet\n"
            "for m in pkgutil.walk_packages(fsanet.__path__, 'fsanet.'):\n"
            "    if m.name != 'fsanet.__main__': importlib.import_module(m.name)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_keras_file_saved_by_release_1_1_loads_with_safe_mode(pretrained, aflw_samples):
    """tests/fixtures/capsule_saved_by_1.1.0.keras: the 300W-LP capsule saved by fsanet 1.1.0 (whose
    classes lived in fsanet.models / fsanet.layers); it computes what the checkpoint computes."""
    import keras
    model = keras.saving.load_model(ROOT / "tests" / "fixtures" / "capsule_saved_by_1.1.0.keras", safe_mode=True)
    images = aflw_samples[0].astype(np.float32)
    expected = np.asarray(pretrained("capsule")(images))
    assert np.abs(np.asarray(model(images)) - expected).max() < 1e-4
