"""The ``fsanet`` subcommands: each module has ``add_arguments(parser)`` and ``run(args) -> int``."""


def positive_int(text):
    """argparse type: an integer >= 1 (argparse names the flag when this raises)."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def non_negative_int(text):
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def positive_float(text):
    """argparse type: a finite number > 0 (no nan, no inf)."""
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError(text)
    return value


def seed(text):
    """argparse type: a random seed, 0 <= seed < 2^32 (what NumPy's global seed accepts)."""
    value = int(text)
    if not 0 <= value < 2**32:
        raise ValueError(text)
    return value


def add_protocol_argument(parser, help="whose released checkpoints: 300W_LP (1, the default) or BIWI (2)",
                          required=False, default="default"):
    """The one ``--protocol`` flag: a protocol's name or number (``fsanet.core.protocols``), given
    to the command as its name; ``default`` is ``DEFAULT_PROTOCOL`` unless given (None: the command
    decides, e.g. from a preset)."""
    from fsanet.core.protocols import DEFAULT_PROTOCOL, PROTOCOLS, get_protocol

    def protocol(text):
        return get_protocol(text).name
    protocol.__name__ = "protocol (" + ", ".join(f"{p.name} or {p.number}" for p in PROTOCOLS.values()) + ")"
    parser.add_argument("--protocol", type=protocol, required=required, help=help,
                        default=None if required else DEFAULT_PROTOCOL if default == "default" else default)


positive_int.__name__ = "positive integer"
non_negative_int.__name__ = "non-negative integer"
positive_float.__name__ = "positive number"
seed.__name__ = "seed (0 to 2^32 - 1)"
