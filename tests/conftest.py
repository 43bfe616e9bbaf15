"""What every test needs: the repository root, and a guard that keeps unit tests off the workflow.

Tests that need a workflow run live under ``tests/e2e/`` (marked ``slow`` there, with the shared smoke
run). Every other test runs under :func:`no_snakemake`: starting Snakemake from it fails the test, so
``pytest -m "not slow"`` never runs the workflow, however a future test is written.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Workflow tests that need neither the session's smoke run nor the SLURM cluster: with `make test` each of their
# tests may run in any pytest worker (see worker_group)
OWN_WORKER_FILES = frozenset({"test_bids_edits.py", "test_cache.py", "test_config_workflow.py",
                              "test_nsd_workflow.py"})


def worker_group(nodeid: str) -> str:
    """The work unit a test belongs to under ``pytest -n N --dist loadgroup`` (``make test``).

    ``"slurm"``: the SLURM test, which mostly waits on status checks, in a worker of its own. ``"smoke"``: every
    other test under ``tests/e2e/`` except those in :data:`OWN_WORKER_FILES`, in one worker, so the session's smoke
    run (a session fixture, made once per worker) is made once. Any other test is a unit of its own.
    """
    path = nodeid.split("::")[0]
    if path.startswith("tests/e2e/slurm/"):
        return "slurm"
    if path.startswith("tests/e2e/") and Path(path).name not in OWN_WORKER_FILES:
        return "smoke"
    return nodeid


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` by :func:`worker_group`. (xdist's own loadgroup reads ``xdist_group`` marks through a
    node-id suffix that pytest 9 no longer keeps, so with pytest 9.2 and xdist 3.8 every test was its own unit and
    the smoke run was made in both workers.) The units keep their collection order: the SLURM test, then the smoke
    group, then the rest, so the two long units start first, in different workers."""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class WorkerGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid)

    config.option.loadscopereorder = False  # by collection order, not by the number of tests in a unit
    return WorkerGroups(config, log)

# "snakemake" as a program (a path ending in it, a word in a shell line) or "python -m snakemake"
_SNAKEMAKE = re.compile(r"(?:^|[\s/;&|(`'\"])snakemake(?:$|[\s;&|)`'\"])|-m\s+snakemake\b")
_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


class SnakemakeInUnitTest(RuntimeError):
    """A test not marked ``slow`` tried to start Snakemake."""


def _words(args) -> list[str]:
    if isinstance(args, (str, bytes, os.PathLike)):
        return [os.fsdecode(args)]
    if isinstance(args, (list, tuple)):
        return [w for a in args for w in _words(a)]
    return []  # an environment, a mode, flags


def starts_snakemake(args, executable=None) -> bool:
    """Whether a process started with ``args`` (a list or a shell line; with ``executable``) runs Snakemake."""
    return bool(_SNAKEMAKE.search(" ".join(_words([args, executable]))))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report  # for no_snakemake's teardown
    return report


@pytest.fixture(autouse=True)
def no_snakemake(request, monkeypatch):
    """In a test not marked ``slow``: any start of Snakemake (a subprocess, ``os.system``, ``os.exec*``,
    ``os.posix_spawn*``, ``os.spawn*``, or Snakemake's Python API) raises, and the test fails even if the
    error was caught."""
    if request.node.get_closest_marker("slow"):
        yield
        return
    attempts: list[str] = []

    def refuse(what) -> None:
        attempts.append(str(what))
        raise SnakemakeInUnitTest(
            f"{request.node.nodeid} started Snakemake ({what!s:.200}); a test that runs the workflow belongs "
            "under tests/e2e/ (marked slow), see tests/e2e/conftest.py")

    class GuardedPopen(subprocess.Popen):
        def __init__(self, args, *pargs, **kwargs):
            if starts_snakemake(args, kwargs.get("executable")):
                refuse(args)
            super().__init__(args, *pargs, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", GuardedPopen)

    def guard(name: str, position: int):
        original = getattr(os, name)

        def guarded(*args, **kwargs):
            if starts_snakemake(args[position:]):
                refuse(args[position:])
            return original(*args, **kwargs)

        monkeypatch.setattr(os, name, guarded)

    guard("system", 0)
    for name in ("execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "execlpe",
                 "posix_spawn", "posix_spawnp"):
        if hasattr(os, name):
            guard(name, 0)
    for name in ("spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe"):
        if hasattr(os, name):
            guard(name, 1)  # after the mode
    import snakemake.api  # the in-process API: no workflow from a unit test either

    monkeypatch.setattr(snakemake.api.SnakemakeApi, "__post_init__", lambda self: refuse("snakemake.api.SnakemakeApi"))
    yield
    call = request.node.stash.get(_CALL_REPORT, None)
    if attempts and not (call is not None and call.failed):  # the refusal was caught somewhere: fail all the same
        pytest.fail(f"{request.node.nodeid} started Snakemake (not a slow test): {attempts}", pytrace=False)
