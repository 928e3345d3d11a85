"""The authors' 19 released checkpoints: registry, download with checksum, cache, local mirror.

The registry is ``pretrained/registry.json`` (upstream commit, path and SHA-256 of every file),
installed with the package as ``fsanet/registry.json``.
Where weights come from, first match wins:

1. ``mirror=`` argument or the ``FSANET_WEIGHTS_MIRROR`` environment variable: a local folder laid
   out like upstream ``pre-trained/`` (e.g. ``../shared/official``), used in place, or a URL base
   (``https://``, ``file://``) downloaded into the cache;
2. otherwise GitHub, at the pinned commit, into the cache (``cache_dir()``: ``FSANET_CACHE_DIR``,
   default ``$XDG_CACHE_HOME/fsanet`` or ``~/.cache/fsanet``).

Every file is checked against its SHA-256 before use.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import json
import os
import urllib.request
from pathlib import Path

from tqdm import tqdm

from fsanet.core.outputs import atomic_write, default_cache_dir
from fsanet.core.protocols import DEFAULT_PROTOCOL, get_protocol
from fsanet.errors import UnknownCheckpointError, WeightsUnavailableError
from fsanet.hub.weights import load_authors_weights
from fsanet.model.models import build_fusion, build_variant
from fsanet.model.variants import FUSIONS, fusion_members, get_variant

MIRROR_ENV = "FSANET_WEIGHTS_MIRROR"


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    protocol: str
    variant: str
    path: str
    sha256: str
    bytes: int
    url: str
    defect: str | None = None


def _load_registry():
    registry = json.loads((importlib.resources.files("fsanet") / "registry.json").read_text())
    return {(c["protocol"], c["variant"]): Checkpoint(
        url=registry["url_template"].format(commit=registry["commit"], path=c["path"]), **c)
        for c in registry["checkpoints"]}


REGISTRY: dict = _load_registry()
"""{(protocol, variant name): Checkpoint} for every released file."""


def find_checkpoint(variant: str, protocol=DEFAULT_PROTOCOL) -> Checkpoint:
    """The registry entry of a variant (name or alias) for a protocol."""
    protocol, name = get_protocol(protocol).name, get_variant(variant).name
    if (protocol, name) not in REGISTRY:
        released = sorted(v for p, v in REGISTRY if p == protocol)
        raise UnknownCheckpointError(f"the authors released no {protocol} checkpoint of {name}; "
                       f"released for {protocol}: {', '.join(released)}")
    return REGISTRY[(protocol, name)]


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, checkpoint: Checkpoint) -> Path:
    actual = sha256_of(path)
    if actual != checkpoint.sha256:
        raise WeightsUnavailableError(f"{path}: SHA-256 {actual} does not match the registry's {checkpoint.sha256} "
                      f"for {checkpoint.protocol}/{checkpoint.variant}; the file is corrupt or "
                      "not the released one")
    return path


def _download(url: str, target: Path, checkpoint: Checkpoint, progress: bool) -> Path:
    """Stream into the cache, hashing on the way; a file with the wrong SHA-256 never lands."""
    digest = hashlib.sha256()
    try:
        with atomic_write(target) as out, urllib.request.urlopen(url, timeout=60) as response, \
                tqdm(total=checkpoint.bytes, unit="B", unit_scale=True, disable=not progress,
                     desc=target.name) as bar:
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                digest.update(block)
                bar.update(len(block))
            if digest.hexdigest() != checkpoint.sha256:
                raise WeightsUnavailableError(f"SHA-256 {digest.hexdigest()} does not match the registry's "
                              f"{checkpoint.sha256} for {checkpoint.protocol}/{checkpoint.variant}")
    except OSError as e:
        raise WeightsUnavailableError(f"downloading {url}: {e} (no network? set {MIRROR_ENV} to a local copy)") from None
    except ValueError as e:  # urllib's word for a malformed URL ("unknown url type", "Invalid IPv6 URL")
        raise WeightsUnavailableError(f"{url}: not a usable URL ({e}); {MIRROR_ENV} or mirror= is a folder or "
                                      "an http(s):// or file:// address") from None
    return target


def fetch(variant: str, protocol=DEFAULT_PROTOCOL, mirror=None, cache_dir=None,
          progress: bool = True) -> Path:
    """Local path of a verified checkpoint file, downloading it into the cache if needed."""
    checkpoint = find_checkpoint(variant, protocol)
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV)
    if mirror and "://" not in str(mirror):
        path = Path(mirror) / checkpoint.path
        if not path.is_file():
            raise WeightsUnavailableError(f"{path}: not in the weights mirror {mirror} "
                                    f"(set by {MIRROR_ENV} or mirror=)")
        return _verified(path, checkpoint)
    target = Path(cache_dir or default_cache_dir()) / checkpoint.path
    if target.is_file() and sha256_of(target) == checkpoint.sha256:
        return target
    url = f"{str(mirror).rstrip('/')}/{checkpoint.path}" if mirror else checkpoint.url
    return _download(url, target, checkpoint, progress)


def load_pretrained(name: str = "fusion", protocol=DEFAULT_PROTOCOL, **fetch_kwargs):
    """A model (variant or fusion, by name or alias) with the authors' released weights."""
    if isinstance(name, str) and name in FUSIONS:
        members = [load_pretrained(v.name, protocol, **fetch_kwargs) for v in fusion_members(name)]
        return build_fusion(members, name=name)
    model = build_variant(name)
    return load_authors_weights(model, fetch(name, protocol, **fetch_kwargs))
