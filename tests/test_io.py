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


# Text in every file format is UTF-8 and round-trips; a broken HDF5 file is named with its fix.

CAPTION = "a café in Zürich — ☕"


def test_tsv_round_trips_non_ascii_text(tmp_path):
    import pandas as pd

    from cortexplorer.io.tables import read_tsv, write_tsv

    table = pd.DataFrame({"stim_id": ["café ü 42", "日本"], "caption": [CAPTION, "n/a"]})
    write_tsv(table, tmp_path / "t.tsv")
    assert (tmp_path / "t.tsv").read_bytes().decode("utf-8").splitlines()[1] == f"café ü 42\t{CAPTION}"
    back = read_tsv(tmp_path / "t.tsv", required=["stim_id"])
    assert list(back["stim_id"]) == ["café ü 42", "日本"]
    assert back["caption"].iloc[0] == CAPTION and pd.isna(back["caption"].iloc[1])


def test_tsv_with_byte_order_mark_reads(tmp_path):
    from cortexplorer.io.tables import read_tsv

    (tmp_path / "t.tsv").write_bytes("\ufeffstim_id\tcaption\ncafé\tx\n".encode())  # as spreadsheets save UTF-8
    assert list(read_tsv(tmp_path / "t.tsv", required=["stim_id"])["stim_id"]) == ["café"]


def test_tsv_not_utf8_is_an_error_naming_it(tmp_path):
    from cortexplorer.io.tables import read_tsv

    (tmp_path / "latin.tsv").write_bytes("stim_id\tcaption\ncafé\tx\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"Table '.*latin\.tsv' is not UTF-8 text .*save it again as UTF-8"):
        read_tsv(tmp_path / "latin.tsv")


def test_json_round_trips_non_ascii_text(tmp_path):
    import json

    from cortexplorer.io.tables import write_json

    write_json({"caption": CAPTION, "stim_id": "café ü 42"}, tmp_path / "x.json")
    assert json.loads((tmp_path / "x.json").read_text(encoding="utf-8")) == {"caption": CAPTION,
                                                                              "stim_id": "café ü 42"}


def test_h5_round_trips_non_ascii_strings(tmp_path):
    import h5py
    import numpy as np

    from cortexplorer.io.hdf5 import read_strings, write_h5

    text = np.array([CAPTION, "café ü 42", "", "plain"])
    write_h5(tmp_path / "s.h5", {"text": text, "grid": text.reshape(2, 2)})
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f["text"].dtype.kind == "S"  # fixed-length bytes, as for ASCII text
        back, grid = read_strings(f["text"]), read_strings(f["grid"][()])
    assert back.tolist() == text.tolist() and grid.tolist() == text.reshape(2, 2).tolist()


def test_h5_ascii_strings_are_byte_identical_to_the_old_encoding(tmp_path):
    import h5py
    import numpy as np

    from cortexplorer.io.hdf5 import write_h5

    ids = np.array(["stim_0001", "stim_02", "x"])
    feats = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_h5(tmp_path / "new.h5", {"features": feats, "stim_id": ids}, attrs={"identity": "{}"})
    with h5py.File(tmp_path / "old.h5", "w") as f:  # what write_h5 did before UTF-8: astype("S")
        f.create_dataset("features", data=feats, track_times=False)
        f.create_dataset("stim_id", data=ids.astype("S"), track_times=False)
        f.attrs["identity"] = "{}"
    assert (tmp_path / "new.h5").read_bytes() == (tmp_path / "old.h5").read_bytes()


def test_image_set_round_trips_non_ascii_ids_and_captions(tmp_path):
    import numpy as np
    import pandas as pd

    from cortexplorer.io.images import ImageSet, read_image_set, write_image_set

    table = pd.DataFrame({"stim_id": ["café ü 42", "☕"], "category": ["food", "object"],
                          "caption": [CAPTION, "tea"], "split": ["train", "test"]})
    images = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
    write_image_set(ImageSet(images, table), tmp_path / "images.h5", tmp_path / "stimuli.tsv")
    back = read_image_set(tmp_path / "images.h5", tmp_path / "stimuli.tsv")
    assert list(back.table["stim_id"]) == ["café ü 42", "☕"] and back.table["caption"].iloc[0] == CAPTION
    assert np.array_equal(back.images, images)


def _h5(path):
    import numpy as np

    from cortexplorer.io.hdf5 import write_h5

    write_h5(path, {"x": np.random.default_rng(0).random(20000)}, compress=("x",))


def test_open_h5_truncated_file_names_it_and_the_fix(tmp_path):
    from cortexplorer.io.hdf5 import UnreadableFileError, open_h5

    _h5(tmp_path / "f.h5")
    data = (tmp_path / "f.h5").read_bytes()
    (tmp_path / "f.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableFileError, match=r"'.*f\.h5' is truncated \(\d+ bytes.*\); delete it and run "
                                                  r"snakemake again to rebuild it \(rule features writes it\)\."):
        with open_h5(tmp_path / "f.h5", made_by="features"):
            pass


def test_open_h5_non_hdf5_file_names_it_and_the_fix(tmp_path):
    from cortexplorer.io.hdf5 import open_h5

    (tmp_path / "f.h5").write_text("hello, I am text")
    (tmp_path / "empty.h5").write_bytes(b"")
    with pytest.raises(ValueError, match=r"'.*f\.h5' is not an HDF5 file; delete it and run snakemake again to "
                                         r"rebuild it\.$"):
        with open_h5(tmp_path / "f.h5"):
            pass
    with pytest.raises(OSError, match=r"'.*empty\.h5' is not an HDF5 file \(it is empty\); delete it"):
        with open_h5(tmp_path / "empty.h5", made_by="stimuli"):
            pass


def test_open_h5_missing_file_and_corrupt_data_name_the_file(tmp_path):
    from cortexplorer.io.hdf5 import UnreadableFileError, open_h5

    with pytest.raises(FileNotFoundError, match=r"'.*none\.h5' does not exist; run snakemake to build it "
                                                r"\(rule simulate writes it\)"):
        with open_h5(tmp_path / "none.h5", made_by="simulate"):
            pass
    _h5(tmp_path / "f.h5")
    data = bytearray((tmp_path / "f.h5").read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4000] = bytes(4000)  # a corrupt compressed chunk: the file opens, its data do not read
    (tmp_path / "f.h5").write_bytes(bytes(data))
    with pytest.raises(UnreadableFileError, match=r"'.*f\.h5' is corrupt: part of it cannot be read .*; delete it "
                                                  r"and run snakemake again"):
        with open_h5(tmp_path / "f.h5") as f:
            f["x"][()]


def test_readers_of_cached_h5_name_the_file(tmp_path):
    from cortexplorer.features.extract import read_features
    from cortexplorer.io.images import read_image_set
    from cortexplorer.preprocess.contract import read_betas

    (tmp_path / "bad.h5").write_bytes(b"\x89HDF\r\n\x1a\n")  # the signature, then nothing
    with pytest.raises(ValueError, match=r"'.*bad\.h5' .*rebuild it \(rule stimuli writes it\)"):
        read_image_set(tmp_path / "bad.h5", tmp_path / "stimuli.tsv")
    with pytest.raises(ValueError, match=r"'.*bad\.h5' .*rebuild it \(rule features writes it\)"):
        read_features(tmp_path / "bad.h5")
    with pytest.raises(ValueError, match=r"'.*bad\.h5' .*rebuild it \(rule preprocess writes it\)"):
        read_betas(tmp_path / "bad.h5")


def test_read_json_names_a_broken_file_with_line_and_fix(tmp_path):
    from cortexplorer.io.tables import read_json, write_json

    good = tmp_path / "ok.json"
    write_json({"caption": "un café à Zürich"}, good)
    assert read_json(good) == {"caption": "un café à Zürich"}
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "RepetitionTime": 2.0,\n  "StartTime": \n}\n')
    with pytest.raises(ValueError, match=r"'.*bad\.json' is not valid JSON \(line 4, column 1: Expecting value\); "
                                         r"fix it \(python -m json\.tool"):
        read_json(bad)
    with pytest.raises(ValueError, match=r"it is an output of rule simulate: delete it and run snakemake again"):
        read_json(bad, made_by="rule simulate")
