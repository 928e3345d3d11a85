"""Registry, checksum-verified fetch from a local mirror or a URL, and the cache."""

import shutil

import numpy as np
import pytest

from fsanet.errors import UnknownCheckpointError, UnknownProtocolError, WeightsUnavailableError
from fsanet.hub.pretrained import REGISTRY, fetch, find_checkpoint, load_pretrained, sha256_of

COMMIT = "4361d0e48103bb215d15734220c9d17e6812bb48"


def test_registry_matches_upstream_checksums(shared):
    sums = {}
    for line in (shared / "official" / "SHA256SUMS").read_text().splitlines():
        digest, path = line.split()
        sums[path.removeprefix("./")] = digest
    for checkpoint in REGISTRY.values():
        assert sums[checkpoint.path] == checkpoint.sha256
        assert checkpoint.url == (f"https://github.com/shamangary/FSA-Net/raw/{COMMIT}/"
                                  f"pre-trained/{checkpoint.path}")
    assert {p for p, _ in REGISTRY} == {"300W_LP", "BIWI"}


def test_fetch_from_local_mirror_verifies_in_place(shared):
    path = fetch("capsule", "300W_LP")
    assert path == shared / "official" / "300W_LP_models" / "fsanet_capsule_3_16_2_21_5" / \
        "fsanet_capsule_3_16_2_21_5.h5"


def test_fetch_from_url_downloads_into_cache(shared, tmp_path):
    url = (shared / "official").as_uri()
    path = fetch("noS_metric", "BIWI", mirror=url, cache_dir=tmp_path, progress=False)
    assert path.is_relative_to(tmp_path) and path.is_file()
    assert sha256_of(path) == find_checkpoint("noS_metric", "BIWI").sha256
    assert not list(tmp_path.rglob("*.part"))
    # Second call: served from the cache, even with the mirror gone.
    assert fetch("noS_metric", "BIWI", mirror="file:///nonexistent", cache_dir=tmp_path) == path


def test_corrupt_mirror_file_is_rejected(shared, tmp_path):
    checkpoint = find_checkpoint("metric", "300W_LP")
    bad = tmp_path / checkpoint.path
    bad.parent.mkdir(parents=True)
    shutil.copy(shared / "official" / checkpoint.path, bad)
    with open(bad, "r+b") as f:
        f.seek(5000)
        f.write(b"\xde\xad\xbe\xef")
    with pytest.raises(OSError, match="SHA-256 .* does not match"):
        fetch("metric", "300W_LP", mirror=tmp_path)
    cache = tmp_path / "cache"
    with pytest.raises(OSError, match="does not match"):
        fetch("metric", "300W_LP", mirror=tmp_path.as_uri(), cache_dir=cache, progress=False)
    assert not list(cache.rglob("*.h5")) and not list(cache.rglob("*.part"))


def test_missing_mirror_file_names_the_path(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="fsanet_capsule_3_16_2_21_5.h5: not in the weights mirror"):
        fetch("capsule", "BIWI", mirror=tmp_path)


def test_unreleased_checkpoint_lists_the_released_ones():
    with pytest.raises(UnknownCheckpointError, match="no 300W_LP checkpoint of fsanet_noS_netvlad_3_16_2_192_5"):
        find_checkpoint("noS_netvlad", "300W_LP")
    with pytest.raises(UnknownProtocolError, match="unknown protocol 'AFLW'"):
        find_checkpoint("capsule", "AFLW")


def test_load_pretrained_fusion_is_one_model(pretrained):
    fusion = load_pretrained("fusion", "BIWI")
    x = np.random.default_rng(4).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    members = [pretrained(a, "BIWI") for a in ("capsule", "var_capsule", "noS_capsule")]
    np.testing.assert_allclose(np.asarray(fusion(x)),
                               np.mean([np.asarray(m(x)) for m in members], axis=0), atol=1e-4)
