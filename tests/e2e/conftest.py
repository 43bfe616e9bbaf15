"""End-to-end tests: everything that runs Snakemake. Every test under ``tests/e2e/`` is marked ``slow``.

Fixtures: ``workdir`` (a copy of the repository as a fresh clone has it), ``smoke_run`` (that copy after one
real run of ``config/smoke.yaml``, shared by the whole session) and ``smoke_results`` (its
``results/smoke``). Take result paths from :data:`SMOKE` (a :class:`~cortexplorer.layout.Layout`), e.g.
``smoke_run / SMOKE.encoder("01", "democlip").metrics``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cortexplorer.layout import Layout

from ..conftest import REPO, worker_group

E2E = Path(__file__).resolve().parent
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
SMOKE = Layout("smoke")  # config/smoke.yaml's dataset; paths relative to the working copy
# Real runs take one thread per job, so two jobs run at once on 2 cores: most smoke jobs last a few seconds,
# half of it starting Python and torch (smoke run 246 s -> 157 s). A job's results depend, bit for bit, on its
# thread count (reduction order), so runs compared byte for byte with the shared smoke run use the same flag.
ONE_THREAD = ("--max-threads", "1")

__all__ = ["ONE_THREAD", "REPO", "SMOKE", "SNAKEMAKE", "copy_repo", "dry_run_jobs", "repo_files", "snakemake"]


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(config, items):
    for item in items:
        if E2E in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _smoke_run_in_its_worker(request):
    """`make test` runs the tests that read the session's smoke run in one pytest worker (tests/conftest.py,
    :func:`worker_group`), so the run is made once; a test elsewhere asking for it would make a second one."""
    if {"smoke_run", "smoke_results"} & set(request.fixturenames) and worker_group(request.node.nodeid) != "smoke":
        pytest.fail(f"{request.node.nodeid} reads the smoke run, but its file is listed in tests/conftest.py's "
                    "OWN_WORKER_FILES (tests that do not need the smoke run); take it off that list", pytrace=False)


def repo_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout.split()
    return [f for f in out if (REPO / f).is_file()]


def copy_repo(dest: Path) -> Path:
    """A working copy with exactly what a fresh clone has (no results, no .snakemake)."""
    for rel in repo_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    return dest


def snakemake(cwd: Path, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def dry_run_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}; fails, showing the output, when there is none."""
    output = proc.stdout + proc.stderr
    m = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal\s+(\d+)", output, re.S)
    if not m:
        raise AssertionError(f"no 'Job stats' table in the output of {proc.args}:\n{output[-5000:]}")
    jobs = {line.split()[0]: int(line.split()[1]) for line in m.group(1).splitlines() if line.strip()}
    assert sum(jobs.values()) == int(m.group(2)), f"job table does not add up to its total:\n{m.group(0)}"
    return jobs


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="session")
def smoke_run(workdir) -> Path:
    """Run the whole smoke workflow once per session; tests read its outputs (paths from SMOKE)."""
    snakemake(workdir, "--cores", "2", *ONE_THREAD, "--configfile", "config/smoke.yaml")
    return workdir


@pytest.fixture(scope="session")
def smoke_results(smoke_run) -> Path:
    return smoke_run / SMOKE.results
