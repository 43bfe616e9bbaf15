"""A real one-node SLURM cluster on this machine, for tests: munged, slurmctld and slurmd.

It writes ``/etc/slurm/slurm.conf`` and ``gres.conf`` (srun inside jobs only finds the default
path), with a marker line; an existing configuration without the marker is never touched. The
node advertises two fake GPUs (file-backed GRES), so GPU requests are scheduled and visible in
``scontrol show job``. Daemons started here are stopped by pid; files written here are removed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

MARKER = "# written by cortexplorer tests/slurm (a one-node test cluster)"
CONF_DIR = Path("/etc/slurm")
# two fake GPUs, so two GPU jobs (most of the workflow's rules) can run at once, as two CPU jobs can
N_GPUS = 2
NEEDED = ("slurmctld", "slurmd", "munged", "munge", "unmunge", "sbatch", "squeue", "scontrol", "sinfo")


def unavailable_reason() -> str | None:
    missing = [b for b in NEEDED if shutil.which(b) is None]
    if missing:
        return f"SLURM/munge binaries missing: {missing} (apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd needs root"
    conf = CONF_DIR / "slurm.conf"
    if conf.exists() and MARKER not in conf.read_text():
        return f"{conf} belongs to a real cluster; not touching it"
    return None


def _munge_ok() -> bool:
    enc = subprocess.run(["munge", "-n"], capture_output=True)
    if enc.returncode != 0:
        return False
    return subprocess.run(["unmunge"], input=enc.stdout, capture_output=True).returncode == 0


class LocalSlurm:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.host = socket.gethostname().split(".")[0]
        self.procs: list[subprocess.Popen] = []
        self.munged_pid: int | None = None
        self.written: list[Path] = []

    def _memory_mb(self) -> int:
        out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
        real = int(out.split("RealMemory=")[1].split()[0])
        return max(1000, min(20000, real - 1000))

    def start(self, timeout: float = 60.0) -> None:
        if not _munge_ok():
            Path("/run/munge").mkdir(parents=True, exist_ok=True)
            shutil.chown("/run/munge", "munge", "munge")
            if not Path("/etc/munge/munge.key").exists():
                subprocess.run(["mungekey", "--create"], check=True)
                shutil.chown("/etc/munge/munge.key", "munge", "munge")
            subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True)
            self.munged_pid = int(Path("/run/munge/munged.pid").read_text())
            if not _munge_ok():
                raise RuntimeError("munged started but munge/unmunge still fail")
        for sub in ("state", "spool"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        gpus = [self.workdir / f"fake-gpu{i}" for i in range(N_GPUS)]
        for gpu in gpus:
            gpu.touch()
        w = self.workdir
        conf = f"""{MARKER}
ClusterName=cortexplorer
SlurmctldHost={self.host}
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
MinJobAge=3600
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation={w}/state
SlurmdSpoolDir={w}/spool
SlurmctldPidFile={w}/slurmctld.pid
SlurmdPidFile={w}/slurmd.pid
SlurmctldLogFile={w}/slurmctld.log
SlurmdLogFile={w}/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
GresTypes=gpu
NodeName={self.host} CPUs={os.cpu_count()} RealMemory={self._memory_mb()} Gres=gpu:{N_GPUS} State=UNKNOWN
PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
"""
        CONF_DIR.mkdir(parents=True, exist_ok=True)
        for name, text in (("slurm.conf", conf), ("gres.conf", MARKER + "".join(f"\nNodeName={self.host} Name=gpu File={gpu}" for gpu in gpus) + "\n")):
            (CONF_DIR / name).write_text(text)
            self.written.append(CONF_DIR / name)
        for daemon in ("slurmctld", "slurmd"):
            log = open(self.workdir / f"{daemon}.out", "w")  # stays open while the daemon runs
            self.procs.append(subprocess.Popen([daemon, "-D"], stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))
            time.sleep(1.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip() == "idle":
                return
            time.sleep(1.0)
        raise RuntimeError(f"SLURM node never became idle; see {self.workdir}/slurmctld.log and slurmd.log")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.munged_pid is not None:
            try:
                os.kill(self.munged_pid, 15)
            except ProcessLookupError:
                pass
        for path in self.written:
            path.unlink(missing_ok=True)
