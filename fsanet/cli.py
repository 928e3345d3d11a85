"""The ``fsanet`` command: one entry point, one subcommand per job.

    fsanet                          # the demo on a built-in photo (same as ``python -m fsanet``)
    fsanet photo.jpg clip.mp4       # the demo on your inputs (``fsanet demo ...``)
    fsanet train configs/protocol1/capsule.toml --data-dir data
    fsanet <command> --help

Each command is a module of ``fsanet.commands`` with ``add_arguments(parser)`` and ``run(args)``;
nothing heavy is imported until a command runs, so ``--help`` answers at once.

The contract every command keeps (tested for each in tests/test_contract.py):

- exit 0: done;
- exit 1: nothing found (e.g. an image without a face);
- exit 2: a bad input, flag, config value or output location: one line, ``error: <file or flag>:
  <problem>``. Arguments, input files and output locations are checked before any long work (no
  model is loaded and no dataset read before a bad --output is reported);
- exit 3: an internal error (a bug): one line with the file holding the traceback;
- exit 130 (Ctrl-C) or 143 (SIGTERM): one line, ``interrupted`` / ``terminated``; every output is
  either complete or absent under its final name (files are written under a temporary name and
  renamed when whole; a video cut short is deleted, never renamed over an earlier complete one; the
  demo's data file cut short keeps its finished frames under ``<name>.partial``, named in the line);
  the process ends right after that line (``exit_with``), not seconds later.
"""

from __future__ import annotations

import _thread
import argparse
import atexit
import contextlib
import ctypes
import datetime
import errno
import importlib
import os
import signal
import sys
import tempfile
import threading
import traceback
import warnings

from fsanet.errors import FSANetError, StdoutError, UsageError

COMMANDS = {
    "demo": "fsanet.commands.demo",
    "plot": "fsanet.commands.plot",
    "heatmaps": "fsanet.commands.heatmaps",
    "prepare-type1": "fsanet.commands.prepare_type1",
    "prepare-biwi": "fsanet.commands.prepare_biwi",
    "make-synthetic": "fsanet.commands.make_synthetic",
    "train": "fsanet.commands.train",
    "test": "fsanet.commands.test",
    "export": "fsanet.commands.export",
    "batch": "fsanet.commands.batch",
    "serve": "fsanet.commands.serve",
}
"""Subcommand name -> module. The first line of a module's docstring is its help."""

DEFAULT_COMMAND = "demo"
EXIT_NOTHING_FOUND, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED = 1, 2, 3, 130, 143
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same clean-up runs."""


class _Parser(argparse.ArgumentParser):
    """argparse with its complaint on one line, naming the flag, instead of usage + error + exit."""

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


@contextlib.contextmanager
def _interrupts(received):
    """While a command runs, Ctrl-C raises ``KeyboardInterrupt`` and SIGTERM ``Terminated`` (each
    signal is also appended to ``received``, for a library that turns it into an error); and the
    interrupt insists: a library may swallow it in a bare ``except:`` (Keras's shape code does while
    a model is built, and the command would then finish as if never interrupted), so it is raised
    again every second until the command has stopped. Only in the main thread, and only where no
    one else handles these signals."""
    signals = [s for s in (signal.SIGINT, signal.SIGTERM)
               if signal.getsignal(s) in (signal.SIG_DFL, signal.default_int_handler)]
    if threading.current_thread() is not threading.main_thread() or not signals:
        yield
        return
    stopped, insisting, previous = threading.Event(), [], {s: signal.getsignal(s) for s in signals}

    def insist(signum):
        while not stopped.wait(1.0):
            _thread.interrupt_main(signum)

    def interrupted(signum, frame):
        if stopped.is_set():  # a repeat that arrives while the command's with-block closes
            return
        received.append(signum)
        if not insisting:
            insisting.append(threading.Thread(target=insist, args=(signum,), daemon=True))
            insisting[0].start()
        raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt

    for signum in signals:
        signal.signal(signum, interrupted)
    try:
        yield
    finally:
        stopped.set()
        if insisting:
            insisting[0].join()
        for signum, handler in previous.items():  # a repeat tripped during the join has run by now
            signal.signal(signum, handler)


class _Stdout:
    """``sys.stdout`` while a command runs: a write or flush that fails raises ``StdoutError``, so
    a full disk behind ``> file`` is named as stdout and not blamed on the output file being
    written at that moment (``fsanet.core.outputs.atomic_path`` turns an ``OSError`` into its file's)."""

    def __init__(self, stream):
        self._stream = stream

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def write(self, text):
        try:
            return self._stream.write(text)
        except OSError as e:
            raise StdoutError(e) from None

    def flush(self):
        try:
            self._stream.flush()
        except OSError as e:
            raise StdoutError(e) from None


@contextlib.contextmanager
def _guarded_stdout():
    stream = sys.stdout
    sys.stdout = _Stdout(stream)
    try:
        yield
        sys.stdout.flush()  # what a redirection buffered is written now, while a failure is still ours
    finally:
        sys.stdout = stream


def _summary(module_name):
    """A command's one-line help, read from its source without importing it, marked when the
    command never loads TensorFlow (its module says ``USES_TENSORFLOW = False``)."""
    import ast
    import importlib.util
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        return ""
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    doc = ast.get_docstring(tree) or ""
    no_tensorflow = any(isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] ==
                        ["USES_TENSORFLOW"] and getattr(node.value, "value", True) is False for node in tree.body)
    return (doc.splitlines()[0] if doc else "") + (" [no TensorFlow]" if no_tensorflow else "")


def _overview(prog):
    width = max(map(len, COMMANDS))
    lines = [f"usage: {prog} [COMMAND] [ARGS ...]", "",
             "FSA-Net head pose estimation (Yang et al., CVPR 2019) in Keras 3.", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {_summary(module)}" for name, module in COMMANDS.items()]
    lines += ["", f"Without a command, {prog} runs the demo: `{prog}` alone on a built-in photo,",
              f"`{prog} INPUT ...` on images, folders, videos or a webcam index.",
              f"`{prog} COMMAND --help` describes a command. Commands marked [no TensorFlow] never load it;",
              "the others load it (seconds) only after every argument, input and output has been checked."]
    return "\n".join(lines)


def _save_traceback():
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        fd, path = tempfile.mkstemp(prefix=f"fsanet-error-{stamp}-", suffix=".log")
        with os.fdopen(fd, "w") as f:
            f.write(traceback.format_exc())
    except OSError as e:
        return f"nowhere ({e.strerror})"
    return path


def run_command(name, argv=None, prog=None) -> int:
    """Parse ``argv`` for command ``name``, run it, and turn every outcome into an exit status."""
    received = []
    try:
        with _interrupts(received), _guarded_stdout():
            return _run(name, sys.argv[1:] if argv is None else argv, prog or f"fsanet {name}")
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else (0 if e.code is None else EXIT_INTERNAL)
    except KeyboardInterrupt as e:
        return _stopped(isinstance(e, Terminated), str(e))
    except Exception as e:  # noqa: BLE001  (the one place every failure becomes a status)
        if received:  # the interrupt, turned into its own error by a library (TensorFlow's C++ does)
            return _stopped(received[0] == signal.SIGTERM)
        return _failure(e)


def _stopped(terminated, kept=""):
    """The interrupt's one line; ``kept``: what a command kept of its work (a partial data file)."""
    _forget_interrupt()
    print(("terminated" if terminated else "interrupted") + (f" ({kept})" if kept else ""), file=sys.stderr)
    return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def _failure(e):
    if isinstance(e, StdoutError):
        with contextlib.suppress(Exception):  # what stdout still buffers would fail again at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if e.errno == errno.EPIPE:  # the reader left (`| head`): nothing to say
            return 0
    if isinstance(e, FSANetError):
        print(f"error: {e}", file=sys.stderr)
        return e.exit_status
    if isinstance(e, BrokenPipeError):
        return 0
    if isinstance(e, OSError):  # the environment, not a bug: a full disk, a file that cannot be opened
        if e.filename is None and e.errno not in _NO_SPACE:
            return _internal_error(e)
        where = f"{e.filename}: " if e.filename is not None else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if isinstance(e, MemoryError):
        print(f"error: not enough memory{f' ({e})' if str(e) else ''}; try a smaller input or batch",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    return _internal_error(e)


def _forget_interrupt():
    """CPython remembers a KeyboardInterrupt that passed through a C-level ``PyRun_*`` call (some do
    while TensorFlow loads) and, at exit, ends the process by SIGINT instead of with the status it
    was given; the interrupt is handled here, so the exit status stays 130 / 143."""
    with contextlib.suppress(Exception):  # not CPython, or a build without the symbol: nothing to do
        ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt").value = 0


def _internal_error(e):
    print(f"internal error: {type(e).__name__}: {e} (traceback saved to {_save_traceback()}; "
          "please report it)", file=sys.stderr)
    return EXIT_INTERNAL


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def _run(name, argv, prog):
    from fsanet.core import quiet as runtime
    module = importlib.import_module(COMMANDS[name])
    doc = (module.__doc__ or "").strip()
    parser = _Parser(prog=prog, description=doc.split("\n\n")[0],
                     epilog="\n\n".join(doc.split("\n\n")[1:]) or None,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(parser)
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's, CUDA's and OpenCV's own log lines, and a library's whole "
                             "message behind an error line (batch: Ray's too)")
    args = parser.parse_args(argv)
    runtime.quiet_opencv(args.verbose)
    if getattr(module, "USES_TENSORFLOW", True):
        runtime.quiet_tensorflow(args.verbose)
    with warnings.catch_warnings():  # restored after the command (run_command may be called from Python)
        if not args.verbose:  # our own warnings (a backend falling back) on one line, not file:line + source
            warnings.showwarning = _one_line_warning
        try:
            return module.run(args)
        except FSANetError as e:
            if args.verbose and e.__cause__ is not None:  # a library's message, whole, before our one line
                traceback.print_exception(e.__cause__, file=sys.stderr)
            raise


def main(argv=None, prog="fsanet") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(_overview(prog))
        return 0
    if argv and argv[0] == "--version":
        from fsanet import __version__
        print(f"fsanet {__version__}")
        return 0
    if argv and argv[0] in COMMANDS:
        return run_command(argv[0], argv[1:], f"{prog} {argv[0]}")
    if argv and _looks_like_a_command(argv[0]):
        print(f"error: unknown command {argv[0]!r}; commands: {', '.join(COMMANDS)} "
              f"(or give the demo an image, folder, video or webcam index)", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_command(DEFAULT_COMMAND, argv, prog)


def exit_with(status: int):
    """End the process with a command's ``status``, as ``python -m fsanet``, the ``fsanet`` script and
    the thin scripts do. After an interrupt, at once: Python's exit then spent seconds, a minute on a
    busy machine, collecting TensorFlow's objects (training's traced functions and datasets) after
    ``interrupted`` was printed. Only its clean-up handlers run (``atexit``: temporary folders, Ray's
    shutdown); by then every output is whole or gone and every worker stopped."""
    if status in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        atexit._run_exitfuncs()  # what Python's exit runs first; the rest of that exit is the slow part
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed or broken stream: nothing more to say
                stream.flush()
        os._exit(status)
    sys.exit(status)


def console():
    """The ``fsanet`` script (pyproject's entry point)."""
    exit_with(main())


def _looks_like_a_command(word):
    """A bare word that names no file and no webcam: a mistyped command rather than a demo input."""
    return (not word.startswith("-") and not word.isdigit() and not os.path.exists(word)
            and "." not in word and os.sep not in word)
