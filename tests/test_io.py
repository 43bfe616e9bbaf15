"""Atomic outputs: nothing half-written is ever visible under the final name."""

from __future__ import annotations

import os
import stat

import pytest

from cortexplorer.io.atomic import atomic_dir, atomic_path
from cortexplorer.seeding import rng


def test_atomic_path_renames_on_success_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "x.nii.gz"
    with atomic_path(target) as tmp:
        assert tmp.name.endswith(".partial.nii.gz") and tmp.parent == target.parent
        tmp.write_text("data")
        assert not target.exists()
    assert target.read_text() == "data"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in target.parent.iterdir()] == ["x.nii.gz"]


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "x.tsv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.tsv"]


def test_atomic_dir_replaces_whole_folder_and_cleans_stale_partials(tmp_path):
    target = tmp_path / "bids"
    stale = tmp_path / ".bids.abc.partial"  # what a SIGKILLed attempt leaves behind
    stale.mkdir()
    (stale / "junk").write_text("x")
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
        assert (target / "old.txt").exists()
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bids"]


def test_seeded_streams_are_independent_and_reproducible():
    a = rng(1, "simulate", "noise").normal(size=5)
    assert (a == rng(1, "simulate", "noise").normal(size=5)).all()
    assert not (a == rng(1, "simulate", "design").normal(size=5)).any()
    assert not (a == rng(2, "simulate", "noise").normal(size=5)).any()


def test_save_torch_is_byte_reproducible(tmp_path):
    import torch

    from cortexplorer.io.torchfile import save_torch

    obj = {"w": torch.arange(6.0).reshape(2, 3)}
    save_torch(obj, tmp_path / "a.pt")
    save_torch(obj, tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    assert torch.equal(torch.load(tmp_path / "a.pt")["w"], obj["w"])
