"""Run one submitted notebook in its own kernel, then grade it from this process.

The notebook's cells run top to bottom in a kernel started by :mod:`companion.course.sandbox`
(errors allowed, each cell interrupted after ``timeout`` seconds, the notebook stopped after
``notebook_timeout``). Then each exercise's checker runs *here*, in the grader, on stand-ins for
the student's functions (:class:`RemoteFunction`): calling one sends the inputs to the kernel, runs
the student's function there and brings back its result as data (:mod:`companion.course.wire`).
The cases, the expected values and the comparison never enter the kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from companion.course import wire
from companion.course.core import Exercise, Score, hidden_cases
from companion.course.sandbox import Folders, Isolation, Limits, kernel_command, kernel_environment

__all__ = ["KernelGone", "RemoteError", "RemoteFunction", "Settings", "run_and_grade"]

GRACE = 15  # seconds after an interrupt before a kernel counts as unrecoverable
IMPORT_TIMEOUT = 120  # seconds for the kernel to import the grader's side (companion, torch)

# nbclient logs every timeout and interrupt as an error; the CSV reports them instead.
_QUIET = logging.getLogger("companion.course.remote.nbclient")
_QUIET.setLevel(logging.CRITICAL)


@dataclass
class Settings:
    """One grading run's settings, the same for every notebook."""

    timeout: float = 120
    notebook_timeout: float = 900
    profile: str = "ci"
    seed: int | None = None  # None: the notebooks' public cases
    limits: Limits = field(default_factory=Limits)
    isolation: Isolation | None = None
    site: Path | None = None  # the read-only copy of companion that kernels import
    data: Path | None = None  # COMPANION_DATA, shown read-only to the kernels


class RemoteError(Exception):
    """The student's function raised in the kernel; ``str`` is its first line."""


class KernelGone(Exception):
    """The kernel died or stopped answering; no later call can run."""


def _remote_exception(name: str, message: str) -> Exception:
    """An exception named like the one the kernel raised (``raised ValueError: ...`` in a case's
    message), whatever that name is."""
    name = name if re.fullmatch(r"[A-Za-z_]\w{0,60}", name) else "Exception"
    return type(name, (RemoteError,), {})(message)


def _kernel_manager(folders: Folders, settings: Settings):
    """A kernel manager whose kernels run :func:`kernel_command` over IPC sockets (a sandbox
    without a network still reaches them), interrupted by message."""
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    argv = kernel_command(
        settings.isolation, folders, settings.site, settings.limits, settings.data
    )

    class GradingKernelSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str):
            spec = ipykernel.kernelspec.get_kernel_dict()
            spec.update(argv=argv, interrupt_mode="message")
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES, **spec)

    km = AsyncKernelManager(
        kernel_name="python3",
        kernel_spec_manager=GradingKernelSpecs(),
        transport="ipc",
        ip=str(folders.ipc / "kernel"),
    )
    km.connection_file = str(folders.inbox / "kernel.json")  # read-only for the kernel
    return km


def _client_class():
    from nbclient import NotebookClient

    class Client(NotebookClient):
        """Keeps only the errors a notebook's cells raise: the grader reads nothing else, and a
        notebook could print gigabytes into the grader's memory."""

        def output(self, outs, msg, display_id, cell_index):
            if msg["msg_type"] != "error":
                return None
            return super().output(outs, msg, display_id, cell_index)

    return Client


def _interrupted(cell) -> bool:
    return any(
        o["output_type"] == "error" and o.get("ename") == "KeyboardInterrupt"
        for o in cell.get("outputs", [])
    )


def _errors(cell) -> list[str]:
    return [
        f"{o.get('ename')}: {o.get('evalue')}"
        for o in cell.get("outputs", [])
        if o["output_type"] == "error"
    ]


class _Kernel:
    """The notebook's kernel, as the checkers' thread sees it: run one snippet at a time."""

    def __init__(self, client, loop: asyncio.AbstractEventLoop, folders: Folders, timeout: float):
        self.client, self.loop, self.timeout = client, loop, timeout
        self.inbox, self.outbox = folders.inbox, folders.outbox
        self.gone: str | None = None  # why the kernel cannot run anything more

    async def _run(self, source: str, timeout: float | None = None) -> dict:
        """Execute ``source`` within ``timeout`` seconds (default: the per-call timeout)."""
        import nbformat
        from nbclient.exceptions import DeadKernelError

        timeout = timeout or self.timeout
        cell = nbformat.v4.new_code_cell(source)
        self.client.nb.cells.append(cell)  # nbclient stores the executed cell at its index
        index = len(self.client.nb.cells) - 1
        self.client.timeout = int(timeout)
        try:
            await asyncio.wait_for(self.client.async_execute_cell(cell, index), timeout + GRACE)
        except asyncio.TimeoutError:
            self.gone = f"ran longer than {timeout:g} s and did not stop when interrupted"
        except DeadKernelError:
            self.gone = "the kernel died"
        return cell

    def run(self, source: str) -> dict:
        """Run ``source`` in the kernel (from the checkers' thread); the executed cell."""
        if self.gone:
            raise KernelGone(self.gone)
        self._empty_outbox()
        start = time.monotonic()
        cell = asyncio.run_coroutine_threadsafe(self._run(source), self.loop).result()
        if self.gone:
            raise KernelGone(self.gone)
        if _interrupted(cell) and time.monotonic() - start >= self.timeout - 1:
            raise TimeoutError(f"ran longer than {self.timeout:g} s")
        return cell

    def _empty_outbox(self) -> None:
        """Remove what the kernel left in its outbox (links and folders too, never followed)."""
        for entry in os.scandir(self.outbox):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)

    def read(self, what: str) -> object:
        try:
            return wire.read_message(self.outbox / "out", trusted=False)
        except wire.WireError as exc:
            raise RemoteError(f"the kernel sent no readable {what}: {exc}") from None

    def snippet(self, function: str, *args: object) -> str:
        """The source that calls ``kernel_side.function(inbox, outbox, *args)`` in the kernel."""
        params = ", ".join(repr(a) for a in (str(self.inbox), str(self.outbox), *args))
        return f"import companion.course.kernel_side as __grader\n__grader.{function}({params})"


class RemoteFunction:
    """Stands in, in the grader, for the student's function ``name`` in the kernel."""

    def __init__(self, kernel: _Kernel, name: str, references: tuple[str, ...]):
        self.kernel, self.name, self.references = kernel, name, references
        self.__name__ = name
        self.uses: set[str] = set()  # references that ran inside the student's function

    def __call__(self, *args, **kwargs):
        grad = tuple(
            i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.requires_grad
        )
        wire.write_message(self.kernel.inbox / "in", (list(args), kwargs))
        # the call runs in the kernel under the checker's grad mode (a checker may call under
        # torch.no_grad() so that an answer computed with autograd fails, as it does in the notebook)
        mode = torch.is_grad_enabled()
        self.kernel.run(self.kernel.snippet("call", self.name, list(self.references), grad, mode))
        out = self.reply("result")
        self.uses.update(str(u) for u in out.get("uses", []))
        _write_back(args, out.get("args"))
        _write_back(list(kwargs.values()), list((out.get("kwargs") or {}).values()))
        if "raised" in out:
            raise _remote_exception(str(out["raised"]), str(out.get("message", "")))
        result = out.get("result")
        if grad and out.get("graph") is True:  # the kernel kept the graph: connect to it
            return _connected(self, result, [args[i] for i in grad])
        return result

    def reply(self, what: str) -> dict:
        out = self.kernel.read(what)
        if not isinstance(out, dict) or not isinstance(out.get("uses", []), list):
            raise RemoteError("the kernel's reply is not in the grader's format")
        return out

    def backward(self, grad_outputs: list) -> list:
        """The gradients of the last call's inputs, computed in the kernel."""
        wire.write_message(self.kernel.inbox / "in", grad_outputs)
        self.kernel.run(self.kernel.snippet("backward"))
        out = self.reply("gradients")
        if "raised" in out:
            raise _remote_exception(str(out["raised"]), str(out.get("message", "")))
        return out.get("grads") or []


class _Graph(torch.autograd.Function):
    """Outputs computed in the kernel, made functions of the grader's inputs: their backward
    asks the kernel for the inputs' gradients."""

    @staticmethod
    def forward(ctx, remote: RemoteFunction, n_inputs: int, *tensors):
        ctx.remote, ctx.n_inputs = remote, n_inputs
        ctx.shapes = [(t.shape, t.dtype) for t in tensors[:n_inputs]]
        return tuple(t.clone() for t in tensors[n_inputs:])

    @staticmethod
    def backward(ctx, *grad_outputs):
        grads = ctx.remote.backward(list(grad_outputs))
        checked = []
        for (shape, dtype), g in zip(ctx.shapes, [*grads, *[None] * ctx.n_inputs], strict=False):
            ok = isinstance(g, torch.Tensor) and g.shape == shape
            checked.append(g.to(dtype) if ok else None)
        return (None, None, *checked, *[None] * len(grad_outputs))


def _connected(remote: RemoteFunction, result: object, inputs: list) -> object:
    """``result`` (a tensor, or a tuple or list holding tensors) with its tensors replaced by
    ones that backpropagate through the kernel to ``inputs``."""
    items = list(result) if isinstance(result, tuple | list) else [result]
    positions = [i for i, t in enumerate(items) if isinstance(t, torch.Tensor)]
    outputs = _Graph.apply(remote, len(inputs), *inputs, *(items[i] for i in positions))
    for i, t in zip(positions, outputs, strict=True):
        items[i] = t
    if isinstance(result, tuple | list):
        return type(result)(items)
    return items[0]


def _write_back(sent: list, returned: object) -> None:
    """What the student's function did to the tensors and generators it was passed (a checker may
    test that an input was left alone, or that a generator was used)."""
    if not isinstance(returned, list) or len(returned) != len(sent):
        return
    for before, after in zip(sent, returned, strict=True):
        if isinstance(before, torch.Tensor) and isinstance(after, torch.Tensor):
            if after.shape == before.shape and after.dtype == before.dtype:
                with torch.no_grad():
                    before.copy_(after)
        elif isinstance(before, torch.Generator) and isinstance(after, torch.Generator):
            before.set_state(after.get_state())


@dataclass
class Graded:
    """An exercise's verdict: its score and the references the student's functions used."""

    score: Score
    uses: list[str]


def _check(kernel: _Kernel, ex: Exercise, seed: int | None) -> Graded:
    """Grade one exercise (in the checkers' thread)."""
    try:
        kernel.run(kernel.snippet("defined", list(ex.names)))
        defined = kernel.read("list of definitions")
    except (KernelGone, TimeoutError, RemoteError) as exc:
        return Graded(Score(ex.label, 0, 1, [f"could not be graded: {exc}"]), [])
    missing = [n for n in ex.names if not (isinstance(defined, dict) and defined.get(n) is True)]
    if missing:
        msgs = [f"`{n}` is not defined: run the cell that defines it" for n in missing]
        return Graded(Score(ex.label, 0, 1, msgs), [])
    stand_ins = [RemoteFunction(kernel, n, ex.references) for n in ex.names]
    with hidden_cases(seed), contextlib.redirect_stdout(io.StringIO()):
        try:
            score = ex.checker(*stand_ins, verbose=False)
        except Exception as exc:  # a checker should never raise; grading goes on if it does
            score = Score(ex.label, 0, 1, [f"checker failed: {type(exc).__name__}: {exc}"])
    return Graded(score, sorted(set().union(*(f.uses for f in stand_ins))))


async def run_and_grade(
    nb, exercises: list[Exercise], folders: Folders, settings: Settings
) -> tuple[list[Graded] | None, list[str]]:
    """Execute ``nb`` in a fresh kernel whose working directory is ``folders.work``, then grade
    ``exercises``. Returns the verdicts (None if the notebook could not be graded) and notes on
    what went wrong (timeouts, a dead kernel)."""
    from nbclient.exceptions import DeadKernelError

    notes: list[str] = []
    timeout, notebook_timeout = settings.timeout, settings.notebook_timeout
    client = _client_class()(
        nb,
        km=_kernel_manager(folders, settings),
        kernel_name="python3",
        timeout=int(timeout),
        allow_errors=True,
        interrupt_on_timeout=True,
        record_timing=False,
        resources={"metadata": {"path": str(folders.work)}},
        log=_QUIET,
    )
    env = kernel_environment(folders.work, settings.site, settings.data, settings.profile)
    deadline = time.monotonic() + notebook_timeout
    # The kernel's stderr (ipykernel's start-up warnings) would drown the summary.
    async with client.async_setup_kernel(
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    ):
        for index, cell in enumerate(list(nb.cells)):
            if cell.cell_type != "code":
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                notes.append(
                    f"timeout: the notebook ran longer than {notebook_timeout:g} s "
                    f"(stopped before cell {index + 1})"
                )
                break
            start = time.monotonic()
            client.timeout = limit = max(1, int(min(remaining, timeout)))
            try:
                await asyncio.wait_for(client.async_execute_cell(cell, index), limit + GRACE)
            except asyncio.TimeoutError:  # interrupted, and still running after the grace
                notes.append(
                    f"timeout: cell {index + 1} ran longer than {timeout:g} s and did not stop "
                    "when interrupted"
                )
                return None, notes
            except DeadKernelError:
                if time.monotonic() - start >= timeout:  # died after its interrupt
                    notes.append(
                        f"timeout: cell {index + 1} ran longer than {timeout:g} s and the kernel "
                        "could not be recovered"
                    )
                else:
                    notes.append(f"crash: the kernel died in cell {index + 1}")
                return None, notes
            if _interrupted(cell) and time.monotonic() - start >= limit - 1:
                notes.append(f"timeout: cell {index + 1} ran longer than {limit:g} s")
        # The grader's own code is imported once, under a timeout of its own: a cold import of
        # companion must not count against the learner's first call.
        kernel = _Kernel(client, asyncio.get_running_loop(), folders, timeout)
        await kernel._run("import companion.course.kernel_side", max(timeout, IMPORT_TIMEOUT))
        if kernel.gone:
            notes.append(f"crash: importing the grader's code in the kernel {kernel.gone}")
            return None, notes
        graded = [await asyncio.to_thread(_check, kernel, ex, settings.seed) for ex in exercises]
        if kernel.gone:
            notes.append(f"crash: during grading, {kernel.gone}")
        return graded, notes
