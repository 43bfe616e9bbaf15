"""How long `snakemake -n` takes to build the workflow's DAG, at a base revision and in this checkout.

Snakemake builds the DAG on every call and again inside every cluster job (the SLURM jobstep), so this
cost is paid per job on a cluster and per call in the tests. The stages' settings live in light modules
(`cortexplorer.<stage>.settings`) and the packages import their heavy modules on first use
(`cortexplorer.lazy`), so a DAG build imports neither torch nor nilearn nor transformers. This clones
--base (default: the commit before that change) next to a copy of this checkout, runs
`snakemake -n --configfile CONFIG` in each, interleaved, --repeats times, and prints the medians and
their ratio (same machine, same venv, same moment).

    .venv/bin/python benchmarks/dag_build.py [--base fa4d6ff] [--repeats 5] [--config config/smoke.yaml]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def dry_run_seconds(workdir: Path, config: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(workdir / "src")}  # each checkout imports its own package (not the venv's)
    start = time.perf_counter()
    subprocess.run([SNAKEMAKE, "-n", "--configfile", config], cwd=workdir, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="fa4d6ff", help="revision to compare with (default: before lazy imports)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--config", default="config/smoke.yaml")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base, head = Path(tmp) / "base", Path(tmp) / "head"
        subprocess.run(["git", "clone", "-q", str(REPO), str(base)], check=True)
        subprocess.run(["git", "checkout", "-q", args.base], cwd=base, check=True)
        files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.split()
        for rel in files:  # this checkout as it is, committed or not
            if (REPO / rel).is_file():
                (head / rel).parent.mkdir(parents=True, exist_ok=True)
                (head / rel).write_bytes((REPO / rel).read_bytes())
        times: dict[str, list[float]] = {"base": [], "head": []}
        for i in range(args.repeats + 1):
            for name, work in (("base", base), ("head", head)):
                seconds = dry_run_seconds(work, args.config)
                if i:  # the first round warms the file cache
                    times[name].append(seconds)
        for name in times:
            print(f"{name:5s} median {statistics.median(times[name]):.2f} s  runs {[round(t, 2) for t in times[name]]}")
        ratio = statistics.median(times["base"]) / statistics.median(times["head"])
        print(f"base / head: {ratio:.2f}x faster DAG build")


if __name__ == "__main__":
    main()
