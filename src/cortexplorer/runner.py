"""How a Snakemake script hands a stage to the library: logging to the rule's log, timing."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from cortexplorer.settings import from_params

log = logging.getLogger("cortexplorer")


def configure_logging(log_path: str | None = None) -> None:
    """Log INFO and above to ``log_path`` (the rule's ``log:``) and to stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logging.captureWarnings(True)


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _plain(files: Any) -> dict[str, Any]:
    """A Snakemake ``input``/``output`` list as a dict of its named entries (str or list of str)."""
    return {name: value if isinstance(value, str) else [str(v) for v in value] for name, value in files.items()}


def check_writable(outputs: dict[str, Any]) -> None:
    """Stop before any work if an output's folder cannot take a new file (read-only or immutable folder,
    a file where the folder should be, a full disk): outputs are written beside their target first
    (cortexplorer.io.atomic), so this is what the stage will need at the end of its work."""
    paths = [p for value in outputs.values() for p in ([value] if isinstance(value, str) else value)]
    for folder in dict.fromkeys(Path(p).parent for p in paths):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise PermissionError(
                f"Cannot write outputs into '{folder}' ({err.strerror or err}); nothing was computed. Make the folder "
                "writable (chmod u+w, chattr -i, free disk space), or move the results folder, then run snakemake "
                "again.") from None


def run_stage(smk: Any, func: Callable[..., Any], **kwargs: Any) -> Any:
    """Run a stage's entry point with logging sent to the rule's log file; errors are logged, then raised.

    The one way a script calls a stage: ``run_stage(snakemake, entry_point)`` calls
    ``entry_point(inputs, outputs, settings)`` with the rule's named inputs and outputs as plain
    dicts and the stage's frozen settings object, rebuilt from ``params.settings`` (built from the
    validated config in the rule and passed as plain data, :mod:`cortexplorer.settings`).
    ``kwargs``, when given, are passed instead (for callers outside a rule).

    The job's thread count is set here, once, for BLAS/OpenMP pools and for torch.
    SIGTERM (what Snakemake, SLURM and ``kill`` send) becomes ``SystemExit``, so the stage's
    ``finally`` blocks remove their temporary outputs before the process ends.
    """
    if not kwargs:
        kwargs = {"inputs": _plain(smk.input), "outputs": _plain(smk.output), "settings": from_params(smk.params.settings)}
    signal.signal(signal.SIGTERM, _terminate)
    configure_logging(smk.log[0] if len(smk.log) else None)
    name = getattr(smk, "rule", func.__name__)
    log.info("rule %s: starting %s", name, func.__qualname__)
    start = time.perf_counter()
    threads = int(getattr(smk, "threads", 0) or 0)
    # BLAS/OpenMP pools sized to the job's threads: OpenBLAS threads that spin on cores given to
    # other jobs make the linear algebra many times slower (measured on 2 shared cores)
    limits = threadpool_limits(limits=threads) if threads > 0 else contextlib.nullcontext()
    if threads > 0 and "torch" in sys.modules:  # the stage's module imported torch: size its pool too
        sys.modules["torch"].set_num_threads(threads)
    try:
        check_writable(kwargs.get("outputs", {}))
        with limits:
            result = func(**kwargs)
    except SystemExit as stop:
        log.error("rule %s stopped by a signal (exit %s); temporary outputs removed", name, stop.code)
        raise
    except Exception:
        log.exception("rule %s failed", name)
        raise
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    log.info("rule %s: done in %.1f s, peak memory %.0f MB", name, time.perf_counter() - start, peak_mb)
    return result
