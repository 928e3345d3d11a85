"""Evaluate models (and the paper's landmark baseline) on the test sets; print the paper's table.

    fsanet test --preset configs/protocol1/evaluate.toml --data-dir data --raw-dir /datasets  # Tables 1, 2
    fsanet test --preset configs/protocol1/ablation.toml --data-dir data    # Table 4
    fsanet test --preset configs/protocol2/evaluate.toml --data-dir data    # Table 3
    fsanet test --preset configs/protocol2/ablation.toml --data-dir data    # Table 5
    fsanet test --models capsule fusion runs/capsule/final.keras --test data/AFLW2000.npz
    fsanet test --models fusion dlib68 --raw-test /datasets/AFLW2000 BIWI_noTrack=/datasets/hpdb

A model is a released model's name (--protocol: whose checkpoints), one of our .keras files, an
authors' .h5, fusion:a,b,c (the average of several) or an exported .onnx / .tflite / SavedModel
folder; --backend picks the runtime (default: the fastest whose conversion matches Keras). Models are scored on npz test sets: the
stored 64x64 crops, not normalised, as the authors tested. Raw folders, AFLW2000-style (jpg + mat)
or BIWI's hpdb, given by --raw-test [NAME=]DIR, are scored by every model asked for: the models on
the crops preparation would write (AFLW2000: the type1 crop around the labelled landmarks, made in
memory; BIWI: prepare-biwi --protocol 1's MTCNN crops, made in a temporary folder), the baseline
dlib68 (dlib's face detector and 68 landmarks, cv2.solvePnP on a generic 3-D face) on the whole
images; faces not found are counted. Rows under one test set name share a table block.

Paths: those given on the command line are relative to the working folder; a preset names its npz
test files relative to --data-dir and its raw folders relative to --raw-dir. --test and --raw-test
replace all of a preset's test sets: only the sets asked for are read.

The table shows per-angle MAE and their mean (the paper's measure), --metrics geodesic,maev adds
the geodesic rotation error and the head-axis vector error (fsanet.experiments.metrics), and the paper's
figures stand beside our rows. --json writes every score, MAE by |yaw| bin, per-sample
predictions and the backend each model ran on; --plot DIR writes error-by-|yaw| and predicted-vs-true PNGs.
"""

from __future__ import annotations

from pathlib import Path

from fsanet.errors import UsageError


def _raw_test(text):
    """argparse type: ``NAME=DIR`` or ``DIR`` (named after its folder) -> (name, Path)."""
    name, _, folder = text.partition("=") if "=" in text else ("", "", text)
    folder = Path(folder)
    return name or folder.name, folder


def _metrics(text):
    from fsanet.experiments.evaluation import TABLE_METRICS
    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in TABLE_METRICS]
    if unknown:
        raise ValueError(text)
    return tuple(names)


_metrics.__name__ = "comma-separated list of geodesic, maev"


def add_arguments(parser):
    from fsanet.commands import add_protocol_argument
    from fsanet.deploy.backends import BACKENDS
    parser.add_argument("--preset", type=Path, help="a table preset in configs/ (models, test sets, paper figures)")
    parser.add_argument("--models", nargs="+", help="models and baselines to evaluate (overrides the preset's)")
    parser.add_argument("--test", nargs="+", type=Path, metavar="NPZ",
                        help="test npz files (replace the preset's test sets)")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="folder of the preset's npz files")
    parser.add_argument("--raw-test", nargs="+", type=_raw_test, metavar="[NAME=]DIR",
                        help="raw test folders, AFLW2000-style (jpg + mat) or BIWI hpdb, for models and "
                             "baselines (replace the preset's test sets)")
    parser.add_argument("--raw-dir", type=Path, help="folder holding the preset's raw test folders (for its baselines)")
    add_protocol_argument(parser, help="checkpoints of released models: 300W_LP (1) or BIWI (2); "
                          "default: the preset's, else 300W_LP", default=None)
    parser.add_argument("--backend", choices=BACKENDS,
                        help="pose runtime for Keras models (default: the fastest whose conversion "
                             "matches Keras); exported files run under their own")
    parser.add_argument("--no-angle-filter", dest="angle_filter", action="store_false", default=None,
                        help="keep test samples with an angle beyond ±99° (default: the preset's, else filter)")
    parser.add_argument("--metrics", type=_metrics, default=(),
                        help="extra table columns: geodesic, maev (the JSON always has them)")
    parser.add_argument("--flip-average", action="store_true",
                        help="score each image averaged with its mirror image's pose (not the paper's protocol)")
    parser.add_argument("--json", type=Path, help="write results and predictions here")
    parser.add_argument("--plot", type=Path, metavar="DIR", help="write PNG plots into this folder")


def _plan(args, preset):
    """(networks, baselines, npz paths, raw folders by name, baselines not run with why, whether the
    networks score the raw folders too). Nothing is read here."""
    from fsanet.experiments.baselines import BASELINES
    requested = args.models or [*preset.models, *preset.baselines]
    networks = [m for m in requested if m not in BASELINES]
    baselines = [m for m in requested if m in BASELINES]
    folders = [str(t) for t in args.test or () if Path(t).is_dir()]
    if folders:
        raise UsageError(f"--test {folders[0]}: a folder, not an npz file; give raw AFLW2000-style (jpg + mat) "
                         "or BIWI hpdb folders to --raw-test")
    explicit = bool(args.test or args.raw_test)  # the sets asked for replace the preset's
    if explicit:
        tests, raw = list(args.test or ()), dict(args.raw_test or ())
    else:
        tests = [args.data_dir / t for t in preset.test] if networks else []
        raw = ({name: args.raw_dir / folder for name, folder in preset.raw_test.items()}
               if args.raw_dir and preset.raw_test and baselines else {})
        if args.raw_dir and not baselines:
            raise UsageError(f"--raw-dir: the preset's raw folders are read by baselines only "
                             f"({', '.join(BASELINES)}); none is asked for")
    not_run = {}
    if baselines and not raw:
        if args.models:
            raise UsageError(f"{', '.join(baselines)} needs whole images: give --raw-test "
                             "with an AFLW2000 or BIWI hpdb folder")
        not_run = {b: "it needs the raw test folders: give --raw-dir" for b in baselines}
        baselines = []
    if tests and not networks:
        raise UsageError("--test npz files are read by models only; the baselines read --raw-test")
    if networks and not tests and not (explicit and raw):
        raise UsageError("give --test npz files or --raw-test folders (or --preset) for " + ", ".join(networks))
    if not networks and not baselines:
        raise UsageError("give --preset, or --models with --test and/or --raw-test")
    return networks, baselines, tests, raw, not_run, explicit and bool(networks)


def heading(protocol, preset, results, networks, flip_average) -> str:
    """The table's first line: the protocol a preset follows (else only whose checkpoints released
    names load: a test set given by hand follows no protocol), the runtimes the networks ran on,
    and a departure from the paper's protocol."""
    from fsanet.core.protocols import PROTOCOLS
    line = (f"protocol {protocol}: {PROTOCOLS[protocol].description}" if preset else
            f"released models: protocol {PROTOCOLS[protocol].number}'s checkpoints (trained on {protocol})")
    backends = sorted({results[m]["backend"] for m in networks})
    if backends:
        line += f"; run on {', '.join(backends)}"
    if flip_average and networks:
        line += "; networks scored with --flip-average (each image and its mirror: not the paper's protocol)"
    return line


def run(args) -> int:
    from fsanet.core.outputs import check_output, write_json
    from fsanet.experiments.baselines import evaluate_baseline, load_raw_test_set, make_baseline, raw_crops
    from fsanet.experiments.config import NO_PRESET, load_preset
    from fsanet.experiments.evaluation import evaluate, format_table, load_test_set
    from fsanet.hub.specs import check_spec
    if args.json:
        check_output(args.json, "--json")
    if args.plot:
        check_output(args.plot, "--plot", folder=True)
    preset = load_preset(args.preset) if args.preset else NO_PRESET
    networks, baselines, tests, raw, not_run, networks_on_raw = _plan(args, preset)
    for spec in networks:
        check_spec(spec, exported=True)
    protocol = args.protocol or preset.protocol
    angle_filter = preset.angle_filter if args.angle_filter is None else args.angle_filter
    test_sets = {Path(t).stem: load_test_set(t, angle_filter) for t in tests}
    raw_sets = {name: load_raw_test_set(folder, name, angle_filter) for name, folder in raw.items()}
    from fsanet.hub.model_spec import resolve_model  # TensorFlow loads here, after every check
    crops = {name: raw_crops(s, angle_filter) for name, s in raw_sets.items()} if networks_on_raw else {}
    results = (evaluate({m: resolve_model(m, protocol, exported=True) for m in networks}, {**test_sets, **crops},
                        backend=args.backend, progress=None, flip_average=args.flip_average) if networks else {})
    for name in baselines:
        method = make_baseline(name)
        results[name] = {"size_mb": method.size_mb}
        for set_name, raw_set in raw_sets.items():
            results[name][set_name] = evaluate_baseline(method, raw_set)
    print(heading(protocol, args.preset, results, networks, args.flip_average))
    names = list(dict.fromkeys([*test_sets, *raw_sets]))
    print(format_table(results, names, preset.published, args.metrics, not_run))
    for raw_set in raw_sets.values():
        cropped = f"; {len(crops[raw_set.name][1])} crops scored by the models" if raw_set.name in crops else ""
        print(f"\n{raw_set.name} ({raw_set.folder}): {len(raw_set.samples)} images, "
              f"{raw_set.outside_range} outside ±99° dropped, {len(raw_set.failed)} unusable{cropped}")
        for file, why in raw_set.failed:
            print(f"  skipped {file}: {why}")
    if args.json:
        write_json(args.json, {
            "protocol": protocol, "angle_filter": angle_filter, "flip_average": args.flip_average,
            "test_sets": {name: {"samples": len(poses), "labels": poses.tolist()}
                          for name, (_, poses) in test_sets.items()},
            "raw_test_sets": {name: {"folder": str(s.folder), "samples": len(s.samples),
                                     "names": [x.name for x in s.samples], "labels": s.poses.tolist(),
                                     "outside_range": s.outside_range, "failed": s.failed}
                              for name, s in raw_sets.items()},
            "published": preset.published, "models": results})
        print(f"\nwrote {args.json}")
    if args.plot:
        from fsanet.experiments.plots import write_plots
        paths = write_plots(results, {name: poses for name, (_, poses) in test_sets.items()},
                            {name: s.poses for name, s in raw_sets.items()}, args.plot)
        print(f"wrote {len(paths)} plots into {args.plot}")
    return 0
