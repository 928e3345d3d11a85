"""Work tied to the first import of a module, whoever imports it: ``when_imported("keras", f)`` calls
``f()`` once ``keras`` has finished loading (at once if it already has), ``around_import("tensorflow",
cm)`` runs the import of ``tensorflow`` inside the context manager ``cm()``.

This is how ``import fsanet`` registers its Keras classes without importing Keras (they are
registered the moment anything imports Keras, so ``keras.saving.load_model(path, safe_mode=True)``
finds them) and how TensorFlow's start-up lines are kept off stderr without importing TensorFlow
before it is needed. One finder on ``sys.meta_path`` watches the named modules only; it finds
nothing itself (the other finders do) and leaves the module's loader in place once it has run.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import sys

_AFTER: dict[str, list] = {}
_AROUND: dict[str, list] = {}


class _Watcher(importlib.abc.MetaPathFinder):
    """Wraps the loading of a watched module; every other import passes by untouched."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in _AFTER and fullname not in _AROUND:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, execute = spec.loader, spec.loader.exec_module

        def exec_module(module):
            wrappers, callbacks = _AROUND.pop(fullname, []), _AFTER.pop(fullname, [])
            try:
                with contextlib.ExitStack() as stack:
                    for wrapper in wrappers:
                        stack.enter_context(wrapper())
                    execute(module)
            finally:
                with contextlib.suppress(AttributeError):
                    del loader.exec_module  # the loader's own method again (it serves reloads)
            for callback in callbacks:
                callback()

        loader.exec_module = exec_module  # this loader instance serves this one module
        return spec


_WATCHER = _Watcher()


def _watch():
    if _WATCHER not in sys.meta_path:
        sys.meta_path.insert(0, _WATCHER)


def when_imported(name: str, callback):
    """Call ``callback()`` right after module ``name`` has been imported (now if it has been)."""
    if name in sys.modules:
        callback()
        return
    _AFTER.setdefault(name, []).append(callback)
    _watch()


def around_import(name: str, wrapper) -> bool:
    """Run the first import of ``name`` inside ``with wrapper():``; False if it is already imported."""
    if name in sys.modules:
        return False
    _AROUND.setdefault(name, []).append(wrapper)
    _watch()
    return True


def not_around_import(name: str, wrapper):
    """Undo ``around_import(name, wrapper)`` if the import has not happened yet."""
    with contextlib.suppress(KeyError, ValueError):
        _AROUND[name].remove(wrapper)
