"""The simulated subject on tiny inputs: determinism and the errors that leave nothing behind.

The smoke run's subject against its own truth and its BIDS layout: ``tests/e2e/test_simulate_outputs.py``.
"""

from __future__ import annotations

import dataclasses
import filecmp
from pathlib import Path

import pytest

from cortexplorer.config import check_config
from cortexplorer.oracle import OracleSettings, train_oracle
from cortexplorer.simulate import SimulationSettings, simulate_subject
from cortexplorer.stimuli import make_demo_image_set


@pytest.fixture(scope="module")
def tiny_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    for name, n, cats in (("stimuli", 24, ["face", "place", "word"]), ("localizer", 12, ["face", "place", "word"])):
        make_demo_image_set(name, out_h5=root / name / "images.h5", out_tsv=root / name / "stimuli.tsv",
                            out_provenance=root / name / "provenance.json", n=n, categories=cats, image_size=32,
                            test_fraction=0.0, seed=2)
    settings = OracleSettings(categories=("face", "place", "word"), image_size=32, seed=1, n_train=60, n_heldout=12,
                              epochs=1, batch_size=32, learning_rate=0.003, width=4, temperature=1.0, device="cpu")
    train_oracle(inputs={}, outputs={"model": str(root / "oracle.pt"), "metrics": str(root / "m.tsv"),
                                     "provenance": str(root / "p.json")}, settings=settings)
    return root


def _inputs(root: Path, oracle: str = "oracle.pt") -> dict[str, str]:
    return {"stimuli": str(root / "stimuli" / "images.h5"), "stimuli_table": str(root / "stimuli" / "stimuli.tsv"),
            "localizer": str(root / "localizer" / "images.h5"),
            "localizer_table": str(root / "localizer" / "stimuli.tsv"), "oracle": str(root / oracle)}


def _outputs(out: Path) -> dict[str, str]:
    return {"bids": str(out / "bids"), "truth": str(out / "truth")}


def _settings(seed: int) -> SimulationSettings:
    return SimulationSettings.from_config(check_config({"dataset": {"name": "t", "mode": "demo"}, "seed": seed}))


def _tiny_simulation(root: Path, out: Path, seed: int) -> None:
    sim = _settings(seed)
    sim = dataclasses.replace(
        sim, voxel_size_mm=10, n_sessions=1, runs_per_session=2,
        regions=[r for r in sim.regions if r["category"] in ("face", "place", "word")],
        localizer={**sim.localizer, "n_runs": 1, "blocks_per_category": 2, "categories": ["face", "place", "word"]})
    simulate_subject(_inputs(root), _outputs(out), sim)


def _all_files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and p.name != "provenance.json")


def test_same_seed_gives_identical_files(tiny_inputs, tmp_path):
    _tiny_simulation(tiny_inputs, tmp_path / "a", seed=11)
    _tiny_simulation(tiny_inputs, tmp_path / "b", seed=11)
    _tiny_simulation(tiny_inputs, tmp_path / "c", seed=12)
    files = _all_files(tmp_path / "a")
    assert files == _all_files(tmp_path / "b") and len(files) > 30
    different = [f for f in files if not filecmp.cmp(tmp_path / "a" / f, tmp_path / "b" / f, shallow=False)]
    assert different == []
    bold = "bids/derivatives/fmriprep/sub-01/ses-01/func/sub-01_ses-01_task-nsd_run-01_space-MNI152NLin2009aSym_desc-preproc_bold.nii.gz"
    assert not filecmp.cmp(tmp_path / "a" / bold, tmp_path / "c" / bold, shallow=False)


def test_region_of_a_category_the_world_lacks_is_an_error(tiny_inputs, tmp_path):
    with pytest.raises(ValueError, match=r"Region 'EBA' prefers 'body', which is not among the categories"):
        simulate_subject(_inputs(tiny_inputs), _outputs(tmp_path), _settings(1))
    assert list(tmp_path.iterdir()) == []


def test_failed_simulation_leaves_nothing_behind(tiny_inputs, tmp_path):
    with pytest.raises(FileNotFoundError, match="Oracle weights"):
        simulate_subject(_inputs(tiny_inputs, "missing.pt"), _outputs(tmp_path), _settings(1))
    assert list(tmp_path.iterdir()) == []
