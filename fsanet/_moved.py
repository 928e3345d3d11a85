"""The module paths of release 1.1 (43 flat modules), kept working for this release: ``import
fsanet.model_spec`` gives a stand-in whose every name reads from, and writes to, the name's new home
(so monkeypatching an old path patches the real module), with one ``DeprecationWarning`` per old
module naming the new path. Module objects are not copied: ``fsanet.model_spec.resolve_model is
fsanet.hub.model_spec.resolve_model``."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

MOVED = {
    "annotate": ("fsanet.video.pipeline", "fsanet.faces.boxes", "fsanet.video.drawing"),
    "augment": ("fsanet.data.augment",),
    "backends": ("fsanet.deploy.backends", "fsanet.deploy.runners"),
    "baselines": ("fsanet.experiments.baselines",),
    "biwi": ("fsanet.data.biwi",),
    "biwi_prepare": ("fsanet.data.biwi_prepare",),
    "config": ("fsanet.experiments.config",),
    "crop": ("fsanet.faces.crop",),
    "detectors": ("fsanet.faces.detectors",),
    "evaluation": ("fsanet.experiments.evaluation", "fsanet.experiments.config"),
    "exports": ("fsanet.deploy.export", "fsanet.hub.model_spec", "fsanet.data.calibration"),
    "frozen_graph": ("fsanet.hub.frozen_graph",),
    "images": ("fsanet.core.images",),
    "inference": ("fsanet.deploy.predictor", "fsanet.model.inference_form", "fsanet.deploy.threads"),
    "io": ("fsanet.core.outputs",),
    "landmark_pose": ("fsanet.experiments.landmark_pose", "fsanet.faces.boxes"),
    "layers": ("fsanet.model.layers",),
    "metrics": ("fsanet.experiments.metrics",),
    "model_spec": ("fsanet.hub.model_spec", "fsanet.model.health"),
    "models": ("fsanet.model.models",),
    "parallel": ("fsanet.core.workers",),
    "plots": ("fsanet.experiments.plots",),
    "pose": ("fsanet.core.pose", "fsanet.video.drawing"),
    "pretrained": ("fsanet.hub.pretrained", "fsanet.core.outputs"),
    "protocols": ("fsanet.core.protocols",),
    "records": ("fsanet.video.records",),
    "runtime": ("fsanet.core.quiet",),
    "smoothing": ("fsanet.video.smoothing",),
    "splits": ("fsanet.data.splits",),
    "structure_maps": ("fsanet.experiments.structure_maps",),
    "synthetic": ("fsanet.data.synthetic",),
    "tracking": ("fsanet.video.tracking", "fsanet.faces.boxes"),
    "training": ("fsanet.experiments.training",),
    "type1": ("fsanet.data.type1",),
    "variants": ("fsanet.model.variants",),
    "weights": ("fsanet.hub.weights",),
}
"""Old module name (``fsanet.<name>``) -> its new homes, the main one first. ``fsanet.data`` and
``fsanet.video`` are packages now; their old names are forwarded by the packages themselves."""


class _Forwarded:
    """A data descriptor for one name of an old module: reads, writes and deletes go to its new home
    (being a data descriptor, it also tells ``pytest``'s monkeypatch to restore through it)."""

    def __init__(self, name, home):
        self.name, self.home = name, home

    def __get__(self, module, owner=None):
        return self if module is None else getattr(self.home, self.name)

    def __set__(self, module, value):
        setattr(self.home, self.name, value)

    def __delete__(self, module):
        delattr(self.home, self.name)


class MovedModule(types.ModuleType):
    """An old module path: every name of its new homes, read from and written to its home."""


def moved_module(name, homes) -> MovedModule:
    """The stand-in for ``fsanet.<name>``: a module whose class forwards each name of ``homes`` (the
    first home that has a name wins)."""
    forwarded = {}
    for home in map(importlib.import_module, reversed(homes)):
        forwarded.update({attribute: _Forwarded(attribute, home) for attribute in vars(home)
                          if not attribute.startswith("__")})
    module_class = type(f"Moved_{name}", (MovedModule,), forwarded)
    return module_class(f"fsanet.{name}", f"Moved to {homes[0]}.")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``fsanet.<old name>`` only; everything else is left to the normal finders."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package == "fsanet" and name in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        name = spec.name.rpartition(".")[2]
        warnings.warn(f"{spec.name} moved to {MOVED[name][0]} (fsanet 1.2); the old path goes in the "
                      "next release", DeprecationWarning, stacklevel=2)  # 2: the import statement (warnings skips importlib frames)
        return moved_module(name, MOVED[name])

    def exec_module(self, module):
        pass


FINDER = _Finder()


def install():
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(FINDER)


def forward_old_names(package, names: dict):
    """A package ``__getattr__`` for names the old module of the same path had: ``names`` maps each
    to its new module; a read warns once and gives the new home's object."""
    def __getattr__(attribute):
        if attribute in names:
            warnings.warn(f"{package}.{attribute} moved to {names[attribute]}.{attribute} (fsanet 1.2); the "
                          "old path goes in the next release", DeprecationWarning, stacklevel=2)
            return getattr(importlib.import_module(names[attribute]), attribute)
        raise AttributeError(f"module {package!r} has no attribute {attribute!r}")
    return __getattr__
