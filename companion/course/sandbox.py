"""Where a submitted notebook runs while it is graded: the kernel's command, environment and limits.

With bubblewrap (``bwrap``, Debian's package ``bubblewrap``) on Linux, each kernel runs in its own
sandbox: its own PID namespace (it cannot see or signal the grader), no network, a fresh temporary
working directory that holds only its notebook, and read-only views of what Python needs (the
system folders, the interpreter, the environment's packages and a read-only copy of companion).
Everything else, the submissions folder and the repository with the solution notebooks included,
is not there at all. Without bubblewrap the kernel runs as a plain process of this user, in its
working directory and under the same limits, and :attr:`Isolation.description` says so: every CSV
row carries it.

Both ways, the kernel is started under CPU-time and memory limits (``setrlimit``).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Folders", "Isolation", "Limits", "installed_copy", "isolation", "kernel_command"]

SANDBOX_ENV = (
    "GRADER_SANDBOX"  # "required": refuse to grade without bubblewrap; "off": never use it
)


@dataclass(frozen=True)
class Limits:
    """Per kernel: CPU seconds (all its threads together), address space, the largest file it may
    write, and the size of its /tmp (a memory-backed tmpfs in the sandbox), in bytes."""

    cpu_seconds: int = 3600
    memory_bytes: int = 8 * 2**30
    file_bytes: int = 2**30
    tmp_bytes: int = 512 * 2**20

    def wrapper(self, sandboxed: bool) -> list[str]:
        """``python -c ...`` that sets the limits, then becomes ``python <the rest of argv>``.
        In a sandbox the kernel's parent is the sandbox's PID 1, so ipykernel must not watch for
        its launcher to exit (JPY_PARENT_PID); bubblewrap ends the kernel with the grader."""
        code = (
            "import os, resource, sys; "
            + ("os.environ.pop('JPY_PARENT_PID', None); " if sandboxed else "")
            + f"resource.setrlimit(resource.RLIMIT_CPU, ({self.cpu_seconds}, {self.cpu_seconds})); "
            f"resource.setrlimit(resource.RLIMIT_AS, ({self.memory_bytes}, {self.memory_bytes})); "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({self.file_bytes}, {self.file_bytes})); "
            "os.execv(sys.executable, [sys.executable] + sys.argv[1:])"
        )
        return [sys.executable, "-c", code]


@dataclass(frozen=True)
class Isolation:
    """How kernels are isolated in this run: ``sandboxed`` and the words the CSV uses."""

    sandboxed: bool
    description: str


def isolation() -> Isolation:
    """bubblewrap if it is installed and works here (and ``GRADER_SANDBOX`` is not ``off``)."""
    wanted = os.environ.get(SANDBOX_ENV, "auto")
    if wanted not in ("auto", "required", "off"):
        raise SystemExit(f"error: {SANDBOX_ENV}={wanted!r}; use auto, required or off")
    bwrap = shutil.which("bwrap")
    reason = None
    if wanted == "off":
        reason = f"{SANDBOX_ENV}=off"
    elif not sys.platform.startswith("linux"):
        reason = "bubblewrap needs Linux"
    elif bwrap is None:
        reason = "bubblewrap (bwrap) is not installed"
    else:
        import subprocess

        probe = subprocess.run(
            [bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "true"],
            capture_output=True,
            text=True,
        )
        if probe.returncode != 0:
            reason = f"bwrap does not run here: {probe.stderr.strip()[:200]}"
    if reason is None:
        return Isolation(
            True,
            "bubblewrap sandbox: own PID namespace, no network, only its notebook and read-only "
            "system, Python and companion visible",
        )
    if wanted == "required":
        raise SystemExit(f"error: {SANDBOX_ENV}=required, but {reason}")
    return Isolation(
        False,
        f"NOT SANDBOXED ({reason}): the notebook ran as this user, with CPU and memory limits "
        "and its own working directory only; it could read and write this user's files, "
        "signal the grader and use the network",
    )


def installed_copy(dest: Path) -> Path:
    """A read-only copy of the companion package that graded kernels import (never the editable
    tree, which a kernel could otherwise change for every later one). Returns the folder to put
    on ``PYTHONPATH``."""
    import companion

    source = Path(companion.__file__).resolve().parent
    site = dest / "site"
    shutil.copytree(source, site / "companion", ignore=shutil.ignore_patterns("__pycache__"))
    for path in [*site.rglob("*"), site]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return site


def _python_folders() -> list[Path]:
    """What the interpreter needs: its installation and this environment's packages."""
    folders = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.exec_prefix)}
    folders.add(Path(os.path.realpath(sys.executable)).parent.parent)
    return sorted(f for f in folders if f.exists())


@dataclass(frozen=True)
class Folders:
    """One notebook's folders: ``work`` (its working directory, holding only the notebook),
    ``inbox`` (what the grader writes for the kernel: read-only inside the sandbox), ``outbox``
    (what the kernel writes back) and ``ipc`` (the kernel's sockets)."""

    work: Path
    inbox: Path
    outbox: Path
    ipc: Path

    @classmethod
    def fresh(cls, base: Path, name: str, content: bytes) -> Folders:
        shutil.rmtree(base, ignore_errors=True)
        folders = cls(base / "work", base / "in", base / "out", base / "ipc")
        for folder in (folders.work, folders.inbox, folders.outbox, folders.ipc):
            folder.mkdir(parents=True)
        (folders.work / name).write_bytes(content)
        return folders


def kernel_command(
    iso: Isolation, folders: Folders, site: Path, limits: Limits, data: Path | None
) -> list[str]:
    """The kernel's argv (``{connection_file}`` filled in by jupyter_client)."""
    kernel = [*limits.wrapper(iso.sandboxed), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    if not iso.sandboxed:
        return kernel
    argv = ["bwrap", "--die-with-parent", "--new-session", "--unshare-all", "--cap-drop", "ALL"]
    for system in ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"):
        argv += ["--ro-bind-try", system, system]
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    for folder in [*_python_folders(), site, folders.inbox] + ([data] if data else []):
        argv += ["--ro-bind", str(folder), str(folder)]
    for folder in (folders.work, folders.outbox, folders.ipc):
        argv += ["--bind", str(folder), str(folder)]
    return argv + ["--chdir", str(folders.work), "--", *kernel]


def kernel_environment(workdir: Path, site: Path, data: Path | None, profile: str) -> dict:
    """A clean environment: nothing of the grader's is passed on but what a kernel needs."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "PYTHONPATH": str(site),
        "PYTHONDONTWRITEBYTECODE": "1",
        "COMPANION_PROFILE": profile,
        "COMPANION_OFFLINE": "1",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
        "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", "2"),
        "MPLBACKEND": "agg",
        "MPLCONFIGDIR": str(workdir / ".config" / "matplotlib"),
        "IPYTHONDIR": str(workdir / ".ipython"),
        "JUPYTER_RUNTIME_DIR": str(workdir / ".jupyter"),
        "HF_HUB_OFFLINE": "1",
    }
    if data is not None:
        env["COMPANION_DATA"] = str(data)
    return env
