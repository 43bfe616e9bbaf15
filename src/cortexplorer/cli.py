"""``cortexplorer``: the workflow as a BIDS App (``BIDS_DIR OUTPUT_DIR {participant,group}``).

It runs this repository's Snakefile, not a re-implementation: Snakemake works in OUTPUT_DIR (its
``.snakemake`` state, ``results/``, ``logs/``, ``benchmarks/`` and ``reports/`` are there), the demo's
``config/config.yaml`` is overlaid by the user's ``--configfile`` files and then by what the command
line says (bids mode, the dataset, the participants), and every flag this command does not know is
passed to Snakemake unchanged (``--keep-going``, ``--rerun-triggers mtime``, ``--executor slurm`` …).

- ``participant``: every stage's outputs for the chosen participants (all of them by default).
- ``group``: the dashboard over the chosen participants: those named by ``--participant-label``, else (as
  MRIQC's group level does) those whose participant level has run in OUTPUT_DIR. Whatever of theirs is
  missing or out of date is built first (Snakemake's usual rule).

OUTPUT_DIR is a BIDS derivatives dataset: its ``dataset_description.json`` names the pipeline
(``GeneratedBy``: name, version, code digest) and the source dataset.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cortexplorer import __version__

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "Snakefile"
LEVELS = ("participant", "group")
TARGET_RULE = {"participant": "participant", "group": "group"}


class UsageError(ValueError):
    """A problem with the command line or its folders; the message names it and the fix."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cortexplorer",
        description="cortexplorer as a BIDS App: encoders, BrainDiVE and the behavioural models on a lab's "
                    "fMRIPrep'd BIDS dataset. Runs the cortexplorer Snakefile with Snakemake; results, logs and "
                    "the dashboard (reports/index.html) are written under OUTPUT_DIR, a BIDS derivatives "
                    "dataset. Flags not listed here are passed to Snakemake.",
        epilog="Examples:\n"
               "  cortexplorer /data/bids /data/derivatives/cortexplorer participant --participant-label 01 02\n"
               "  cortexplorer /data/bids /data/derivatives/cortexplorer group\n"
               "  cortexplorer /data/bids /data/derivatives/cortexplorer participant --profile profiles/slurm\n"
               "Rerun the same command after an interruption: finished outputs are kept, the rest is run.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bids_dir", metavar="BIDS_DIR",
                   help="the raw BIDS dataset (dataset_description.json, sub-*/, fMRIPrep's output under "
                        "derivatives/)")
    p.add_argument("output_dir", metavar="OUTPUT_DIR",
                   help="where results go (created if missing; Snakemake's working folder); must not be BIDS_DIR")
    p.add_argument("analysis_level", metavar="{participant,group}", choices=LEVELS,
                   help="participant: every stage for each chosen participant; group: the dashboard over them")
    p.add_argument("--participant-label", "--participant_label", nargs="+", metavar="LABEL", default=None,
                   help="participants to process, with or without 'sub-' (default: every sub-* folder; at the "
                        "group level, those whose participant level has run in OUTPUT_DIR)")
    p.add_argument("--session-label", "--session_label", nargs="+", metavar="LABEL", default=None,
                   help="only these sessions' runs, with or without 'ses-' (default: every session)")
    p.add_argument("--stimuli-dir", metavar="DIR", default=None,
                   help="the stimulus images the events name (default: the config's bids.stimuli_dir, else "
                        "BIDS_DIR/stimuli)")
    p.add_argument("--configfile", nargs="+", metavar="FILE", default=[],
                   help="YAML files overlaid on the defaults in order (see config/README.md), e.g. the "
                        "backbones, the diffusion model and preprocess.task")
    p.add_argument("--cores", default="all", metavar="N", help="CPU cores to use (default: all)")
    p.add_argument("--profile", metavar="DIR", default=None,
                   help="a Snakemake profile, e.g. profiles/slurm to submit each job to SLURM")
    p.add_argument("-n", "--dry-run", action="store_true", help="show what would run, and why; run nothing")
    p.add_argument("--version", action="version", version=f"cortexplorer {__version__}")
    return p


def workflow_digest(repo: Path = REPO) -> str:
    """SHA-256 (16 hex digits) of the code that makes the results: the package's sources, the Snakefile,
    the rules, scripts and schema, and the default config."""
    h = hashlib.sha256()
    files = [repo / "Snakefile", repo / "config" / "config.yaml",
             *sorted((repo / "src" / "cortexplorer").rglob("*.py")),
             *sorted(p for p in (repo / "workflow").rglob("*") if p.is_file() and "__pycache__" not in p.parts)]
    for f in files:
        h.update(str(f.relative_to(repo)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def derivatives_description(bids_dir: Path) -> dict[str, Any]:
    """The ``dataset_description.json`` of OUTPUT_DIR (BIDS derivatives, with the pipeline and the source)."""
    source = json.loads((bids_dir / "dataset_description.json").read_text(encoding="utf-8") or "{}")
    name = source.get("Name") or bids_dir.name
    return {
        "Name": f"cortexplorer derivatives of {name}",
        "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "cortexplorer", "Version": __version__,
                         "Description": f"code digest sha256:{workflow_digest()} (src, Snakefile, workflow, "
                                       "config/config.yaml)",
                         "CodeURL": f"file://{REPO}"}],
        "SourceDatasets": [{"URL": bids_dir.resolve().as_uri()}],
    }


def write_description(output_dir: Path, bids_dir: Path) -> Path:
    """Write OUTPUT_DIR/dataset_description.json when its content changes (whole or not at all)."""
    from cortexplorer.io.tables import read_json, write_json

    path = output_dir / "dataset_description.json"
    desc = derivatives_description(bids_dir)
    if not path.exists() or read_json(path) != desc:
        write_json(desc, path)
    return path


def _dataset_name(bids_dir: Path) -> str:
    """A results folder name from the BIDS folder's name (letters, digits, - and _)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", bids_dir.resolve().name).strip("-") or "bids"


def processed_participants(output_dir: Path, dataset_name: str) -> list[str]:
    """Labels of the participants whose single-trial betas are in ``output_dir`` (their participant level ran)."""
    from cortexplorer.io.bids import natural_key
    from cortexplorer.layout import Layout

    layout = Layout(dataset_name)
    found = [p.parent.name[4:] for p in (output_dir / layout.results / "preprocess").glob("sub-*/betas.h5")]
    return sorted(found, key=natural_key)


def _user_config(files: Sequence[str]) -> dict:
    """The user's config files merged in order as Snakemake merges them (each checked for YAML problems, naming
    the line)."""
    from snakemake.utils import update_config

    from cortexplorer.config import load_config_file

    merged: dict = {}
    for f in files:
        update_config(merged, load_config_file(f))
    return merged


def _yaml(value: Any) -> str:
    return json.dumps(value)  # JSON is YAML: Snakemake's --config parses it as such


def snakemake_command(args: argparse.Namespace, extra: Sequence[str]) -> list[str]:
    """The Snakemake command line for ``args`` (checked), plus the flags this command does not know."""
    bids_dir, output_dir = Path(args.bids_dir).resolve(), Path(args.output_dir).resolve()
    if not (bids_dir / "dataset_description.json").is_file():
        what = "does not exist" if not bids_dir.exists() else "has no dataset_description.json"
        raise UsageError(f"BIDS_DIR '{args.bids_dir}' {what}: it must be a BIDS dataset (dataset_description.json, "
                         "sub-*/ and fMRIPrep's output under derivatives/).")
    if output_dir == bids_dir or output_dir.parent == bids_dir:
        raise UsageError(f"OUTPUT_DIR '{args.output_dir}' is the BIDS dataset or a folder at its top level; write "
                         f"results elsewhere, e.g. {bids_dir / 'derivatives' / 'cortexplorer'}.")
    if not SNAKEFILE.is_file():
        raise UsageError(f"cortexplorer's Snakefile is not at '{SNAKEFILE}': this command runs the workflow of the "
                         "repository it was installed from. Install it from a clone: pip install -e '.[models]'.")
    configfiles = [str(Path(f).resolve()) for f in args.configfile]
    user = _user_config(configfiles)
    bids: dict[str, Any] = {"root": str(bids_dir)}
    stimuli = args.stimuli_dir or (user.get("bids") or {}).get("stimuli_dir")
    if not stimuli:
        stimuli = bids_dir / "stimuli"
        if not stimuli.is_dir():
            raise UsageError(f"No stimulus folder: '{stimuli}' does not exist. Put the images the events name in "
                             "BIDS_DIR/stimuli/, or pass --stimuli-dir DIR (or bids.stimuli_dir in a --configfile).")
    bids["stimuli_dir"] = str(Path(stimuli).resolve())
    dataset_name = (user.get("dataset") or {}).get("name") or _dataset_name(bids_dir)
    labels = list(args.participant_label or [])
    if args.analysis_level == "group" and not labels:
        # as MRIQC's group level: the participants whose participant level has run in OUTPUT_DIR
        labels = processed_participants(output_dir, dataset_name)
        if not labels:
            raise UsageError(f"No participant-level results in '{output_dir}' (results/{dataset_name}/preprocess/"
                             "sub-*/). Run the participant level first, or name the participants with "
                             "--participant-label.")
    if labels:
        bids["participant_label"] = labels
    if args.session_label:
        bids["sessions"] = list(args.session_label)
    dataset = {"mode": "bids", "name": dataset_name}
    cmd = [sys.executable, "-m", "snakemake", TARGET_RULE[args.analysis_level],
           "--snakefile", str(SNAKEFILE), "--directory", str(output_dir), "--cores", str(args.cores)]
    if args.profile:  # a folder here, else one of the repository's profiles (profiles/slurm), else Snakemake's lookup
        here, shipped = Path(args.profile), REPO / args.profile
        profile = here.resolve() if here.is_dir() else shipped if shipped.is_dir() else args.profile
        cmd += ["--profile", str(profile)]
    if args.dry_run:
        cmd.append("--dry-run")
    cmd += list(extra)
    if configfiles:
        cmd += ["--configfile", *configfiles]
    cmd += ["--config", f"dataset={_yaml(dataset)}", f"bids={_yaml(bids)}"]
    return cmd


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = parser().parse_known_args(argv)
    try:
        cmd = snakemake_command(args, extra)
    except (UsageError, ValueError) as err:  # ConfigError (a bad --configfile) is a ValueError too
        print(f"cortexplorer: error: {err}", file=sys.stderr)
        return 2
    output_dir = Path(args.output_dir).resolve()
    if not args.dry_run:
        output_dir.mkdir(parents=True, exist_ok=True)
        write_description(output_dir, Path(args.bids_dir).resolve())
    elif not output_dir.is_dir():
        output_dir.mkdir(parents=True)  # Snakemake's --directory must exist, even for a dry run
    print("cortexplorer: " + " ".join(cmd[1:]), file=sys.stderr, flush=True)
    return subprocess.call(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})


if __name__ == "__main__":
    sys.exit(main())
