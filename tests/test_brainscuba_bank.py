"""BrainSCUBA's bank built from a lab's images: 2,000 images in 8 WebDataset-style tar shards with 3 corrupt files
and 5 duplicates; the embeddings against the features stage on the same images, the counts and their log lines,
a folder tree cut into shards, and bad input."""

from __future__ import annotations

import io
import logging
import tarfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from cortexplorer.brainscuba.bank import bank_paths
from cortexplorer.brainscuba.bank_build import (
    embed_shard,
    input_shards,
    iter_members,
    run_bank_index,
    run_bank_manifest,
    shard_named,
    write_shard,
)
from cortexplorer.brainscuba.settings import BankBuildSettings
from cortexplorer.features.extract import extract_features
from cortexplorer.io.hdf5 import read_strings
from cortexplorer.stimuli.folder import import_image_folder
from tests.tiny_models import demo_backbone

torch.set_num_threads(1)

N_SHARDS, PER_SHARD = 8, 250
CORRUPT = {(1, 7): b"not an image at all", (4, 100): None, (6, 0): b""}  # (shard, position): bytes (None: truncated)
DUPLICATES = {(0, 200): (0, 3), (0, 201): (0, 3), (3, 10): (1, 50), (5, 249): (2, 0), (7, 5): (6, 120)}


def _png(rng: np.random.Generator) -> bytes:
    w, h = rng.integers(12, 40, size=2)  # mostly not square: the centre crop matters
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _write_tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def tar_bank(tmp_path_factory):
    """8 tar shards of 250 images (plus a caption member each, as WebDataset has), 3 corrupt, 5 duplicates; the
    1,992 good unique images also as loose files (the reference)."""
    root = tmp_path_factory.mktemp("bank")
    rng = np.random.default_rng(0)
    data: dict[tuple[int, int], bytes] = {}
    for s in range(N_SHARDS):
        for i in range(PER_SHARD):
            data[s, i] = _png(rng)
    for (s, i), payload in CORRUPT.items():
        data[s, i] = payload if payload is not None else data[s, i][:60]
    for (s, i), (s0, i0) in DUPLICATES.items():
        data[s, i] = data[s0, i0]
    (root / "shards").mkdir()
    (root / "reference").mkdir()
    for s in range(N_SHARDS):
        members = []
        for i in range(PER_SHARD):
            key = f"{s:02d}{i:04d}"
            members += [(f"{key}.png", data[s, i]), (f"{key}.txt", b"a caption")]
            if (s, i) not in CORRUPT and (s, i) not in DUPLICATES:
                (root / "reference" / f"{key}.png").write_bytes(data[s, i])
        _write_tar(root / "shards" / f"laion-{s:05d}.tar", members)
    return root


def _settings(source, spec, shard_size=10000) -> BankBuildSettings:
    return BankBuildSettings(source=str(source), shard_size=shard_size, batch_size=64, backbone="tiny",
                             backbone_spec=spec, device="cpu", seed=0)


def test_bank_from_tar_shards_equals_features_and_counts_corrupt_and_duplicates(tar_bank, tmp_path, caplog):
    """The index, shard and manifest steps as their rules run them (the shard rule loads a real backbone: the
    miniature NSD workflow test runs it); the demo CLIP architecture at 16 px embeds here."""
    root = tar_bank
    backbone, weights = demo_backbone(tmp_path, image_size=16)
    settings = _settings(root / "shards", {"kind": "demo_clip"})
    shards = input_shards(settings.source, settings.shard_size)
    assert [s.name for s in shards] == [f"laion-{s:05d}" for s in range(N_SHARDS)]
    out = tmp_path / "bank"
    with caplog.at_level(logging.INFO, logger="cortexplorer.brainscuba.bank_build"):
        index = run_bank_index(inputs={}, outputs={"index": str(out / "index.tsv")}, settings=settings)
        files = [str(out / "shards" / f"{s.name}.h5") for s in shards]
        for s, f in zip(shards, files, strict=True):
            write_shard(f, embed_shard(shard_named(settings.source, s.name, index), index, backbone, 64),
                        backbone.identity)
        totals = run_bank_manifest(inputs={"shards": files},
                                   outputs={"manifest": str(out / "manifest.txt"),
                                            "provenance": str(out / "manifest.provenance.json")}, settings=settings)
    # the index: every image member (captions left alone), duplicates pointing at their first occurrence
    assert len(index) == N_SHARDS * PER_SHARD
    dupes = index[index["duplicate_of"].notna()]
    expected = {f"laion-{s:05d}/{s:02d}{i:04d}.png": f"laion-{s0:05d}/{s0:02d}{i0:04d}.png"
                for (s, i), (s0, i0) in DUPLICATES.items()}
    assert dict(zip(dupes["shard"] + "/" + dupes["key"], dupes["duplicate_of"], strict=True)) == expected
    assert "5 duplicate image(s) dropped" in caplog.text
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped corrupt image")]
    assert sorted(m.split("'")[1] for m in skipped) == sorted(f"{s:02d}{i:04d}.png" for s, i in CORRUPT)
    assert totals == {"images": 2000 - 3 - 5, "corrupt": 3, "duplicates": 5}
    # the manifest, in the format brainscuba.bank reads, lists the shards in order
    assert bank_paths(str(out / "manifest.txt")) == [str(Path(f)) for f in files]
    assert "1992 images in 8 shards (3 corrupt skipped, 5 duplicates dropped)" in (out / "manifest.txt").read_text()

    # the features stage on the same (good, unique) images, imported as stimuli at the backbone's input size
    keys, feats = [], []
    for f in files:
        with h5py.File(f) as h:
            keys += list(read_strings(h["key"]))
            feats.append(h["features"][()])
            assert h.attrs["norm"].startswith("raw")
    bank = np.concatenate(feats)
    ref_dir = tmp_path / "ref"
    import_image_folder(folder=root / "reference", image_size=16, out_h5=ref_dir / "images.h5",
                        out_tsv=ref_dir / "stimuli.tsv", out_provenance=ref_dir / "stimuli.json", fit="crop")
    ref = extract_features(images_h5=str(ref_dir / "images.h5"), stimuli_tsv=str(ref_dir / "stimuli.tsv"),
                           name="democlip", spec={"kind": "demo_clip"}, out_h5=str(ref_dir / "features.h5"),
                           out_provenance=str(ref_dir / "features.json"), batch_size=64, demo_weights=str(weights),
                           device="cpu", seed=0, normalize=False)
    assert ref.identity == backbone.identity
    assert sorted(k.removesuffix(".png") for k in keys) == sorted(ref.stim_id)
    order = {sid: n for n, sid in enumerate(ref.stim_id)}
    np.testing.assert_allclose(bank, ref.features[[order[k.removesuffix(".png")] for k in keys]], atol=1e-5, rtol=0)


def test_a_folder_tree_is_cut_into_shards_and_hidden_files_are_skipped(tmp_path):
    rng = np.random.default_rng(1)
    for rel in ["b/x.png", "a/y.jpg", "a/deep/z.png", "c.png", "a/.hidden.png", ".cache/w.png", "notes.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(_png(rng))
    shards = input_shards(tmp_path, shard_size=2)
    assert [(s.name, s.kind, s.members) for s in shards] == [
        ("part-00000", "files", ("a/deep/z.png", "a/y.jpg")), ("part-00001", "files", ("b/x.png", "c.png"))]
    assert [k for k, _ in iter_members(shards[1])] == ["b/x.png", "c.png"]
    assert shards[0].files == [str(tmp_path / "a/deep/z.png"), str(tmp_path / "a/y.jpg")]


def test_bad_bank_folders_are_refused_by_name(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'.*missing'.*does not exist"):
        input_shards(tmp_path / "missing", 10)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.md").write_text("no images here")
    with pytest.raises(FileNotFoundError, match=r"No images .* in the bank's image folder '.*empty'"):
        input_shards(tmp_path / "empty", 10)
    (tmp_path / "mixed").mkdir()
    _write_tar(tmp_path / "mixed" / "a.tar", [("x.png", _png(np.random.default_rng(0)))])
    (tmp_path / "mixed" / "loose.png").write_bytes(_png(np.random.default_rng(1)))
    with pytest.raises(ValueError, match=r"both \.tar shards and loose images \(loose\.png"):
        input_shards(tmp_path / "mixed", 10)
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "shard.tar").write_bytes(b"this is not a tar archive" * 40)
    shard = input_shards(tmp_path / "fake", 10)[0]
    with pytest.raises(ValueError, match=r"Bank shard '.*shard\.tar' is not a readable tar archive"):
        list(iter_members(shard))


def test_a_shard_job_reads_only_its_rows_of_the_index_in_chunks(tmp_path):
    """index_rows reads the index in chunks (memory flat in the bank's size) and returns exactly the rows of one
    shard, in order, with the missing duplicate_of as NaN; an index without the columns is refused by name."""
    from cortexplorer.brainscuba.bank_build import index_rows
    from cortexplorer.io.tables import write_tsv

    rng = np.random.default_rng(2)
    table = pd.DataFrame({"shard": rng.choice(["part-00000", "part-00001", "part-00002"], 50),
                          "key": [f"{i:03d}.jpg" for i in range(50)],
                          "sha256": [f"{rng.integers(1 << 62):x}" for _ in range(50)],
                          "duplicate_of": [None] * 50})
    table.loc[[4, 17], "duplicate_of"] = "part-00000/000.jpg"
    write_tsv(table, tmp_path / "index.tsv")
    for shard in ("part-00000", "part-00001", "part-00002", "part-00009"):
        got = index_rows(tmp_path / "index.tsv", shard, chunk_rows=7)
        want = table[table["shard"] == shard].reset_index(drop=True)
        assert list(got.columns) == list(want.columns)
        assert got.fillna("-").values.tolist() == want.fillna("-").values.tolist()
        assert got["duplicate_of"].isna().sum() == want["duplicate_of"].isna().sum()
    write_tsv(table.drop(columns="sha256"), tmp_path / "bad.tsv")
    with pytest.raises(ValueError, match=r"index '.*bad\.tsv' lacks the column\(s\) \['sha256'\]"):
        index_rows(tmp_path / "bad.tsv", "part-00000")
