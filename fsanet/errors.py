"""Every error class of the library, in one place: each derives from ``FSANetError``, which carries
the exit status of the contract (2: bad input, 1: nothing found).

Commands catch ``FSANetError`` in one place (``fsanet.cli``) and print its message on one line with
its ``exit_status``; anything else is an internal error.
"""


class FSANetError(Exception):
    """A problem with the user's input, flags, files or environment; the message names it."""

    exit_status = 2


class NothingFoundError(FSANetError):
    """The input was fine but holds nothing to work on (e.g. no face): exit status 1, not 2."""

    exit_status = 1


class UsageError(FSANetError):
    """A command-line flag or argument that cannot be used (alone or with the others given)."""


class ImageError(FSANetError, ValueError):
    """An image file or array that cannot be used; the message names it and says why."""


class OutputError(FSANetError):
    """An output location that cannot be written; the message names it and says why."""


class StdoutError(OutputError):
    """Standard output that cannot be written (a full disk behind a redirection, a closed pipe):
    reported as stdout's, never as the output file's that was being written at that moment."""

    def __init__(self, error: OSError):
        super().__init__(f"stdout: cannot be written ({error.strerror or error})")
        self.errno = error.errno


class SampleError(FSANetError, ValueError):
    """One raw sample that cannot be prepared; the message says why."""


class DatasetError(FSANetError, ValueError):
    """A dataset file that cannot be used; the message names the file and the problem."""


class ExportError(FSANetError):
    """An export that cannot be written or does not compute what the model computes."""


class ConfigError(FSANetError, ValueError):
    """A config that cannot be used; the message names the file and the key."""


class BaselineError(FSANetError):
    """A baseline that cannot run (a missing package or model file)."""


class TrainingError(FSANetError, ValueError):
    """A run that cannot start or resume; the message says why."""


class DetectorError(FSANetError):
    """A detector that cannot be built (unknown name, missing package or model file)."""


class ModelSpecError(FSANetError, ValueError):
    """A model argument that names nothing loadable; the message says what was expected."""


class UnknownModelError(ModelSpecError, KeyError):
    """A variant or fusion name not in the table; also a ``KeyError``, which the table lookups raised
    before (its message printed as is, not quoted as a ``KeyError``'s key would be)."""

    __str__ = Exception.__str__


class ArgumentTypeError(FSANetError, TypeError):
    """An argument of a library function of the wrong type; the message names it and what it takes."""


class ArgumentValueError(FSANetError, ValueError):
    """An argument of a library function of the right type but an unusable value (a model's
    hyperparameters, a thread count); the message names it."""


class ThreadConfigError(FSANetError, RuntimeError):
    """CPU thread pools asked for after TensorFlow started (it fixes them on first use)."""


class NonFiniteModelError(FSANetError, ValueError):
    """A model whose weights or angles are NaN or infinite (a diverged training): never used, never saved."""


class UnknownCheckpointError(FSANetError, ValueError):
    """A variant for which the authors released no checkpoint under a protocol."""


class WeightsUnavailableError(FSANetError, OSError):
    """Weights that cannot be had: not in the mirror, a failed download, a checksum mismatch."""


class UnknownProtocolError(FSANetError, ValueError):
    """A protocol that is neither 1, 2, 300W_LP nor BIWI."""


class WeightFileError(FSANetError, ValueError):
    """A checkpoint that cannot be loaded; the message names the file and the problem."""


class InputError(FSANetError, ValueError):
    """An input or output the demo cannot use; the message names it and says why."""


class RecordError(FSANetError):
    """A data file that cannot be written or read; the message names it."""


def one_line(error: BaseException, limit: int | None = None) -> str:
    """An unexpected exception as ``Type: message`` on one line (OpenCV's, Keras' and the runtimes'
    messages span several), cut to ``limit`` characters if given."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if limit is None or len(text) <= limit else text[:limit - 3] + "..."
