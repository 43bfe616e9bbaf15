"""NSD mode on a miniature NSD tree written in the real formats, and the fetch over loopback HTTP."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io

from cortexplorer.io.images import read_image_set
from cortexplorer.nsd import fetch_file, import_nsd_stimuli, load_manifest
from cortexplorer.stimuli.folder import import_image_folder

from .conftest import REPO


def test_manifest_expands_subjects_and_sessions():
    m = load_manifest(REPO / "data_manifests" / "nsd.yaml")
    assert m.sessions_per_subject == {1: 40, 2: 40, 3: 32, 4: 30, 5: 40, 6: 32, 7: 40, 8: 30}
    files = m.select([1], [1, 2])
    assert len(files) == 3 + 11 + 2
    betas = m.by_kind(files, "betas")
    assert [f.path for f in betas] == [
        f"nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR/betas_session{s:02d}.nii.gz" for s in (1, 2)]
    with pytest.raises(ValueError, match=r"NSD subject 4 has 30 sessions; config key 'nsd.sessions' asks for \[35\]"):
        m.select([4], [1, 35])


@pytest.fixture
def mini_nsd(tmp_path: Path) -> Path:
    """73k ids 0..19; subject 1 saw ids 1..10 (1-based in subjectim), subject 2 ids 6..15; shared: 3, 7."""
    rng = np.random.default_rng(0)
    stim = tmp_path / "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"
    stim.parent.mkdir(parents=True)
    with h5py.File(stim, "w") as f:
        f.create_dataset("imgBrick", data=rng.integers(0, 255, (20, 425, 425, 3), dtype=np.uint8))
    design = tmp_path / "nsddata/experiments/nsd/nsd_expdesign.mat"
    design.parent.mkdir(parents=True)
    subjectim = np.zeros((8, 10), dtype=np.float64)
    subjectim[0] = np.arange(1, 11)
    subjectim[1] = np.arange(6, 16)
    scipy.io.savemat(design, {"subjectim": subjectim, "sharedix": np.array([[4, 8]])})
    info = pd.DataFrame({"nsdId": np.arange(20), "cocoId": 1000 + np.arange(20),
                         "shared1000": [i in (3, 7) for i in range(20)]})
    info.to_csv(tmp_path / "nsddata/experiments/nsd/nsd_stim_info_merged.csv")
    return tmp_path


def test_import_nsd_stimuli(mini_nsd: Path, tmp_path: Path):
    out = tmp_path / "out"
    import_nsd_stimuli(stimuli_hdf5=mini_nsd / "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5",
                       expdesign_mat=mini_nsd / "nsddata/experiments/nsd/nsd_expdesign.mat",
                       stim_info_csv=mini_nsd / "nsddata/experiments/nsd/nsd_stim_info_merged.csv",
                       subjects=[1], image_size=32, out_h5=out / "images.h5", out_tsv=out / "stimuli.tsv",
                       out_provenance=out / "provenance.json")
    s = read_image_set(out / "images.h5", out / "stimuli.tsv")
    assert list(s.table["stim_id"]) == [f"nsd{i:05d}" for i in range(10)]
    assert list(s.table.loc[s.table["split"] == "test", "nsd_id"]) == [3, 7]
    assert s.images.shape == (10, 32, 32, 3)
    with h5py.File(mini_nsd / "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5") as f:
        first = f["imgBrick"][0]
    assert abs(float(s.images[0].mean()) - float(first.mean())) < 3  # resize keeps the image's mean
    # two subjects: the union of the images they saw
    import_nsd_stimuli(stimuli_hdf5=mini_nsd / "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5",
                       expdesign_mat=mini_nsd / "nsddata/experiments/nsd/nsd_expdesign.mat",
                       stim_info_csv=mini_nsd / "nsddata/experiments/nsd/nsd_stim_info_merged.csv",
                       subjects=[1, 2], image_size=16, out_h5=out / "b.h5", out_tsv=out / "b.tsv",
                       out_provenance=out / "b.json")
    assert len(read_image_set(out / "b.h5", out / "b.tsv")) == 15


class _Handler(http.server.SimpleHTTPRequestHandler):
    lie_about_length = False

    def log_message(self, *args):
        pass

    def send_header(self, keyword, value):
        if keyword == "Content-Length" and self.lie_about_length:
            value = str(int(value) + 10)
        super().send_header(keyword, value)


@pytest.fixture
def http_root(tmp_path: Path):
    root = tmp_path / "served"
    root.mkdir()
    (root / "file.bin").write_bytes(bytes(range(256)) * 1000)

    def serve(lie: bool):
        handler = type("H", (_Handler,), {"lie_about_length": lie})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                 lambda *a: handler(*a, directory=str(root)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    servers = []
    yield lambda lie=False: servers.append(serve(lie)) or servers[-1]
    for s in servers:
        s.shutdown()


def test_fetch_file_over_loopback(http_root, tmp_path: Path):
    server = http_root()
    url = f"http://127.0.0.1:{server.server_address[1]}/file.bin"
    n = fetch_file(url, tmp_path / "dl" / "file.bin", expected_bytes=256_000)
    assert n == 256_000 and (tmp_path / "dl" / "file.bin").read_bytes() == bytes(range(256)) * 1000
    with pytest.raises(OSError, match="the manifest says 5"):
        fetch_file(url, tmp_path / "dl" / "other.bin", expected_bytes=5)
    assert not (tmp_path / "dl" / "other.bin").exists()
    assert [p.name for p in (tmp_path / "dl").iterdir()] == ["file.bin"]  # no partial file left


def test_fetch_entry_joins_the_bucket_url(http_root, tmp_path: Path):
    from cortexplorer.nsd.stage import FetchSettings, fetch_nsd_file

    server = http_root()
    base = f"http://127.0.0.1:{server.server_address[1]}/"  # a trailing slash is not doubled
    settings = FetchSettings.from_config({"nsd": {"base_url": base}}, nsd_path="file.bin", expected_bytes=256_000)
    assert settings.url == f"{base}file.bin"
    fetch_nsd_file({}, {"file": str(tmp_path / "file.bin")}, settings)
    assert (tmp_path / "file.bin").read_bytes() == bytes(range(256)) * 1000


def test_image_folder_import(tmp_path: Path):
    from PIL import Image

    folder = tmp_path / "stimuli"
    folder.mkdir()
    for name, colour in (("img_a", (255, 0, 0)), ("img_b", (0, 0, 255))):
        Image.new("RGB", (50, 40), colour).save(folder / f"{name}.png")
    (folder / "stimuli.tsv").write_text("stim_id\tcategory\nimg_a\tface\n")
    out = tmp_path / "out"
    import_image_folder(folder=folder, image_size=16, out_h5=out / "i.h5", out_tsv=out / "s.tsv",
                        out_provenance=out / "p.json")
    s = read_image_set(out / "i.h5", out / "s.tsv")
    assert list(s.table["stim_id"]) == ["img_a", "img_b"]
    assert s.table["category"].iloc[0] == "face" and pd.isna(s.table["category"].iloc[1])
    assert tuple(s.images[0, 8, 8]) == (255, 0, 0)
    (folder / "stimuli.tsv").write_text("stim_id\tcategory\nimg_c\tface\n")
    with pytest.raises(ValueError, match=r"lists stim_id\(s\) with no image file: \['img_c'\]"):
        import_image_folder(folder=folder, image_size=16, out_h5=out / "i.h5", out_tsv=out / "s.tsv",
                            out_provenance=out / "p.json")
