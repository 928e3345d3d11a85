"""The ``fsanet`` command: one entry point, one subcommand per job.

    fsanet                          # the demo on a built-in photo (same as ``python -m fsanet``)
    fsanet photo.jpg clip.mp4       # the demo on your inputs (``fsanet demo ...``)
    fsanet train configs/protocol1/capsule.toml --data-dir data
    fsanet <command> --help

Each command is a module of ``fsanet.commands`` with ``add_arguments(parser)`` and ``run(args)``;
nothing heavy is imported until a command runs, so ``--help`` answers at once.

Exit status, for every command: 0 done; 1 nothing found (e.g. an image without a face); 2 bad
input, flag or output location (one line names it); 3 an internal error (a short message and the
file holding the traceback); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import sys
import tempfile
import traceback

from fsanet.errors import FSANetError

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
}
"""Subcommand name -> module. The first line of a module's docstring is its help."""

DEFAULT_COMMAND = "demo"
EXIT_NOTHING_FOUND, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 1, 2, 3, 130


def _summary(module_name):
    """A command's one-line help, read from its source without importing it."""
    import ast
    import importlib.util
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        return ""
    with open(spec.origin, encoding="utf-8") as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ""
    return doc.splitlines()[0] if doc else ""


def _overview(prog):
    width = max(map(len, COMMANDS))
    lines = [f"usage: {prog} [COMMAND] [ARGS ...]", "",
             "FSA-Net head pose estimation (Yang et al., CVPR 2019) in Keras 3.", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {_summary(module)}" for name, module in COMMANDS.items()]
    lines += ["", f"Without a command, {prog} runs the demo: `{prog}` alone on a built-in photo,",
              f"`{prog} INPUT ...` on images, folders, videos or a webcam index.",
              f"`{prog} COMMAND --help` describes a command."]
    return "\n".join(lines)


def _save_traceback():
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    fd, path = tempfile.mkstemp(prefix=f"fsanet-error-{stamp}-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        f.write(traceback.format_exc())
    return path


def run_command(name, argv=None, prog=None) -> int:
    """Parse ``argv`` for command ``name``, run it, and turn every outcome into an exit status."""
    from fsanet import runtime
    module = importlib.import_module(COMMANDS[name])
    doc = (module.__doc__ or "").strip()
    parser = argparse.ArgumentParser(prog=prog or f"fsanet {name}", description=doc.split("\n\n")[0],
                                     epilog="\n\n".join(doc.split("\n\n")[1:]) or None,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(parser)
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's, CUDA's and OpenCV's own log lines")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        runtime.quiet_opencv(args.verbose)
        if getattr(module, "USES_TENSORFLOW", True):
            runtime.quiet_tensorflow(args.verbose)
        return module.run(args)
    except FSANetError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001  (the one place internal errors are reported)
        print(f"internal error: {type(e).__name__}: {e} (traceback saved to {_save_traceback()}; "
              "please report it)", file=sys.stderr)
        return EXIT_INTERNAL


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


def _looks_like_a_command(word):
    """A bare word that names no file and no webcam: a mistyped command rather than a demo input."""
    return (not word.startswith("-") and not word.isdigit() and not os.path.exists(word)
            and "." not in word and os.sep not in word)
