"""How the size of a BIDS dataset changes the time to build the workflow's DAG in bids mode.

Rules list the files each subject's stages read (cortexplorer.io.bids.run_files, walking only that
subject's folders), so a `snakemake -n` should cost about the same on 1 and on many participants. This
writes fMRIPrep-shaped trees of empty files (2 sessions × 6 runs × 2 tasks per participant, raw events,
sidecars, BOLD; derivatives' preprocessed BOLD, sidecar, mask, confounds) for 1, 20 and 100
participants and times `snakemake -n --until rois` on each, interleaved, best of --repeats, in one
script. Prints seconds and each size's ratio to the 1-participant tree.

    .venv/bin/python benchmarks/bids_dag_listing.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
SPACE = "MNI152NLin2009cAsym"


def write_tree(root: Path, n_participants: int) -> int:
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text('{"Name": "many", "BIDSVersion": "1.9.0"}')
    n = 0
    for s in range(1, n_participants + 1):
        for ses in (1, 2):
            raw = root / f"sub-{s:02d}/ses-{ses:02d}/func"
            der = root / f"derivatives/fmriprep/sub-{s:02d}/ses-{ses:02d}/func"
            raw.mkdir(parents=True)
            der.mkdir(parents=True)
            for task in ("nsd", "floc"):
                for run in range(1, 7):
                    base = f"sub-{s:02d}_ses-{ses:02d}_task-{task}_run-{run:02d}"
                    for name in ("events.tsv", "bold.json", "bold.nii.gz"):
                        (raw / f"{base}_{name}").touch()
                    for name in (f"space-{SPACE}_desc-preproc_bold.nii.gz", f"space-{SPACE}_desc-preproc_bold.json",
                                 f"space-{SPACE}_desc-brain_mask.nii.gz", "desc-confounds_timeseries.tsv"):
                        (der / f"{base}_{name}").touch()
                    n += 7
    return n


def dry_run(config: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([SNAKEMAKE, "-n", "--configfile", str(config), "--until", "rois"], cwd=REPO,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0 or "preprocess" not in proc.stdout:
        raise SystemExit(f"dry run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        configs, files = {}, {}
        for n in (1, 20, 100):
            base = Path(tmp) / f"n{n}"
            files[n] = write_tree(base / "bids", n)
            (base / "stimuli").mkdir()
            (base / "stimuli" / "img001.png").touch()
            configs[n] = base / "config.yaml"
            configs[n].write_text(f"dataset: {{name: bench{n}, mode: bids}}\nbids:\n  root: {base}/bids\n"
                                  f"  stimuli_dir: {base}/stimuli\nreport:\n  html: {base}/index.html\n")
        best = {n: float("inf") for n in configs}
        for _ in range(args.repeats):
            for n, cfg in configs.items():
                best[n] = min(best[n], dry_run(cfg))
    for n in configs:
        print(f"{n:4d} participants ({files[n]:6d} files): snakemake -n {best[n]:.2f} s, "
              f"{best[n] / best[1]:.2f}× the 1-participant tree")


if __name__ == "__main__":
    main()
