"""The module paths of release 1.1 (43 flat modules), kept working for this release: ``import
fsanet.model_spec`` gives a stand-in that forwards every attribute read and write to the name's new
home (so monkeypatching an old path patches the real module) and warns once per old module with a
``DeprecationWarning`` naming the new path."""

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
    "evaluation": ("fsanet.experiments.evaluation",),
    "exports": ("fsanet.deploy.export", "fsanet.hub.model_spec", "fsanet.data.calibration"),
    "frozen_graph": ("fsanet.hub.frozen_graph",),
    "images": ("fsanet.core.images",),
    "inference": ("fsanet.deploy.predictor", "fsanet.model.inference_form", "fsanet.deploy.threads"),
    "io": ("fsanet.core.outputs",),
    "landmark_pose": ("fsanet.experiments.landmark_pose",),
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


class MovedModule(types.ModuleType):
    """An old module path: attributes are read from, and written to, their new home."""

    def __init__(self, name, homes):
        super().__init__(name)
        object.__setattr__(self, "_homes", homes)

    def _home(self, attribute):
        for home in self._homes:
            module = importlib.import_module(home)
            if hasattr(module, attribute):
                return module
        raise AttributeError(f"module {self.__name__!r} (moved to {self._homes[0]}) has no attribute {attribute!r}")

    def __getattr__(self, attribute):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return getattr(self._home(attribute), attribute)

    def __setattr__(self, attribute, value):
        if attribute.startswith("__"):  # the import system's own (__spec__, __loader__, ...)
            object.__setattr__(self, attribute, value)
        else:
            setattr(self._home(attribute), attribute, value)

    def __delattr__(self, attribute):
        delattr(self._home(attribute), attribute)

    def __dir__(self):
        return sorted({n for home in self._homes for n in dir(importlib.import_module(home))})


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
                      "next release", DeprecationWarning, stacklevel=_caller_level())
        return MovedModule(spec.name, MOVED[name])

    def exec_module(self, module):
        pass


def _caller_level():
    """The stack level of the first frame outside the import machinery (the ``import`` statement)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (frame.f_code.co_filename.startswith("<frozen importlib")
                                 or frame.f_code.co_filename == __file__):
        frame, level = frame.f_back, level + 1
    return level


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
