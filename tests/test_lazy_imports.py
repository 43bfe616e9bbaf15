"""Building the DAG stays light: the workflow's imports load no torch, nilearn, transformers or scikit-learn.

Snakemake builds the DAG on every call and inside every cluster job, so what the rule files import is
paid per job (benchmarks/dag_build.py: 6.4 s → 1.9 s per `snakemake -n`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cortexplorer.lazy import lazy_exports
from cortexplorer.provenance import source_digest

from .conftest import REPO

HEAVY = ("torch", "nilearn", "transformers", "sklearn", "diffusers", "open_clip", "matplotlib", "bids", "scipy")


def _workflow_imports() -> list[str]:
    """Every top-level `from cortexplorer… import …` of the rule files and the Snakefile, as written there."""
    lines = []
    for path in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").rglob("*.smk"))]:
        text = path.read_text()
        lines += re.findall(r"^from cortexplorer[\w.]* import (?:\([^)]*\)|.*)$", text, re.M)
    return lines


def _digested_packages() -> list[str]:
    """Every module name the rule files hand to source_digest (string literals naming cortexplorer modules)."""
    names = set()
    for path in sorted((REPO / "workflow" / "rules").rglob("*.smk")):
        names |= set(re.findall(r'"(cortexplorer(?:\.\w+)*)"', path.read_text()))
    return sorted(names)


def test_the_workflow_imports_and_digests_load_no_heavy_library():
    imports, packages = _workflow_imports(), _digested_packages()
    assert len(imports) >= 20 and len(packages) >= 10  # the scan found the rule files' imports
    code = "\n".join([*imports, "from cortexplorer.provenance import source_digest",
                      f"source_digest(*{packages!r})", "import json, sys",
                      f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_lazy_package_names_are_the_submodules_objects():
    oracle = importlib.import_module("cortexplorer.oracle")
    from cortexplorer.oracle.classifier import load_oracle
    from cortexplorer.oracle.settings import OracleSettings

    assert oracle.load_oracle is load_oracle and oracle.OracleSettings is OracleSettings
    assert {"load_oracle", "OracleSettings", "rf_energy"} <= set(dir(oracle))
    with pytest.raises(AttributeError, match=r"'cortexplorer\.oracle' has no attribute 'nothing_here'"):
        oracle.nothing_here  # noqa: B018
    getattr_, _ = lazy_exports("cortexplorer.stimuli", {"world": ["CATEGORIES"]})
    from cortexplorer.stimuli.world import CATEGORIES

    assert getattr_("CATEGORIES") is CATEGORIES


def test_every_lazy_export_resolves():
    for package in ("encoder", "features", "io", "models", "nsd", "oracle", "report", "simulate", "stimuli"):
        module = importlib.import_module(f"cortexplorer.{package}")
        for name in module.__all__:
            assert getattr(module, name) is not None, f"cortexplorer.{package}.{name}"


def test_source_digest_reads_the_files_an_import_would():
    """The digest (now from find_spec, without running the module) equals one from the imported modules' files."""
    names = ["cortexplorer.oracle", "cortexplorer.io.truth", "cortexplorer.models.backbone"]
    h = hashlib.sha256()
    for name in sorted(names):
        file = Path(importlib.import_module(name).__file__)
        root = file.parent if file.name == "__init__.py" else file
        for f in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            h.update(str(f.relative_to(root.parent)).encode())
            h.update(f.read_bytes())
    assert source_digest(*names) == h.hexdigest()[:16]
    with pytest.raises(ModuleNotFoundError, match=r"cortexplorer\.no_such_stage"):
        source_digest("cortexplorer.no_such_stage")
