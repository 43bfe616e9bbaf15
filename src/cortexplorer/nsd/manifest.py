"""``data_manifests/nsd.yaml``: the NSD files a run needs, and a plain HTTPS fetch for them.

The fetch happens inside a job, never while Snakemake builds the DAG, so a dry run works
offline (Snakemake's storage plugins check remote files at DAG-build time and fail offline).
"""

from __future__ import annotations

import logging
import os
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from cortexplorer.io.atomic import atomic_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NsdFile:
    path: str  # relative to the bucket root (and to the local root)
    kind: str
    subject: int | None = None
    session: int | None = None
    bytes: int | None = None  # exact size when known; verified after download


@dataclass
class NsdManifest:
    sessions_per_subject: dict[int, int]
    files: list[NsdFile]

    def select(self, subjects: Sequence[int], sessions: Sequence[int]) -> list[NsdFile]:
        """Files for the given subjects and sessions (sessions a subject does not have are an error)."""
        for s in subjects:
            n = self.sessions_per_subject[s]
            bad = [x for x in sessions if x > n]
            if bad:
                raise ValueError(f"NSD subject {s} has {n} sessions; config key 'nsd.sessions' asks for {bad}.")
        return [f for f in self.files
                if (f.subject is None or f.subject in subjects) and (f.session is None or f.session in sessions)]

    def by_kind(self, files: Sequence[NsdFile], kind: str) -> list[NsdFile]:
        return [f for f in files if f.kind == kind]


def load_manifest(path: str | os.PathLike) -> NsdManifest:
    """Expand the manifest's per-subject and per-session templates into concrete files."""
    with open(path) as f:
        spec = yaml.safe_load(f)
    sessions = {int(k): int(v["sessions"]) for k, v in spec["subjects"].items()}
    files = [NsdFile(path=e["path"], kind=e["kind"], bytes=e.get("bytes")) for e in spec["files"]["common"]]
    for s in sorted(sessions):
        for e in spec["files"]["per_subject"]:
            files.append(NsdFile(path=e["path"].format(subject=s), kind=e["kind"], subject=s))
        for sess in range(1, sessions[s] + 1):
            for e in spec["files"]["per_session"]:
                files.append(NsdFile(path=e["path"].format(subject=s, session=sess), kind=e["kind"], subject=s,
                                     session=sess))
    return NsdManifest(sessions_per_subject=sessions, files=files)


def fetch_file(url: str, dest: str | os.PathLike, expected_bytes: int | None = None, *, chunk: int = 1 << 22,
               timeout: float = 60.0) -> int:
    """Download ``url`` to ``dest`` atomically, checking the size against the server's and the manifest's."""
    dest = Path(dest)
    log.info("fetching %s -> %s", url, dest)
    start = time.monotonic()
    with urllib.request.urlopen(url, timeout=timeout) as response:
        announced = response.headers.get("Content-Length")
        total = int(announced) if announced is not None else None
        done, last = 0, start
        with atomic_path(dest) as tmp:
            with open(tmp, "wb") as out:
                while block := response.read(chunk):
                    out.write(block)
                    done += len(block)
                    if time.monotonic() - last > 10:
                        rate = done / max(time.monotonic() - start, 1e-9)
                        eta = f", ETA {(total - done) / rate:.0f} s" if total else ""
                        log.info("%s: %.1f MB%s%s", dest.name, done / 1e6, f" of {total / 1e6:.1f} MB" if total else "", eta)
                        last = time.monotonic()
            for label, want in (("server", total), ("manifest", expected_bytes)):
                if want is not None and done != want:
                    raise OSError(f"Download of {url} is truncated or wrong: got {done} bytes, the {label} says {want}. "
                                  "Rerun the workflow to fetch it again.")
    log.info("fetched %s: %.1f MB in %.0f s", dest.name, done / 1e6, time.monotonic() - start)
    return done
