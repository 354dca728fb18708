"""The grader's half of a call, run inside the student's kernel after the notebook's cells.

The grader writes a call's inputs as a message (:mod:`companion.course.wire`) and runs
``kernel_side.call(inbox, outbox, name, references)`` in the kernel: it calls the notebook's function
``name`` on them and writes back what happened, as data only (the result or the exception's type
and first line, the tensors and generators the call may have changed in place, and which of the
exercise's ``references`` ran during the call). The verdict is the grader's: nothing here
compares anything, so nothing the notebook patches in this process can change a score, only the
outputs it sends.
"""

from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path

import torch

from companion.course import wire


def _resolve(reference: str) -> object:
    """``companion.layers.EncoderLayer.forward`` -> the function (the longest importable module
    prefix, then attributes)."""
    parts = reference.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(reference)


def _namespace() -> dict:
    from IPython import get_ipython

    return get_ipython().user_ns


def defined(inbox: str, outbox: str, names: list[str]) -> None:
    """Write which of ``names`` the notebook defines as callables."""
    ns = _namespace()
    wire.write_message(Path(outbox) / "out", {n: callable(ns.get(n)) for n in names})


_graph: tuple[list, list] = ([], [])  # the last call's inputs that require grad, and outputs


def _tensors(result: object) -> list:
    items = result if isinstance(result, tuple | list) else [result]
    return [t for t in items if isinstance(t, torch.Tensor)]


def call(
    inbox: str,
    outbox: str,
    name: str,
    references: list[str],
    grad: tuple[int, ...] = (),
    grad_enabled: bool = True,
) -> None:
    """Call the notebook's ``name`` on the inputs in ``inbox/in``; write ``outbox/out``. The
    positional arguments at ``grad`` require grad, and the call's graph is kept for
    :func:`backward`; the call runs with autograd on or off as ``grad_enabled`` says (the
    checker's mode in the grader)."""
    global _graph
    args, kwargs = wire.read_message(Path(inbox) / "in", trusted=True)
    for i in grad:
        args[i].requires_grad_()
    # A reference is recognised by where its code was written (file and first line), so a copy of
    # its code object under another name still counts; builtins by identity.
    watched = {}
    for ref in references:
        fn = _resolve(ref)
        code = getattr(fn, "__code__", None)
        watched[(code.co_filename, code.co_firstlineno) if code else id(fn)] = ref
    used: set[str] = set()

    def profile(frame, event, arg):
        if event == "call":
            where = (frame.f_code.co_filename, frame.f_code.co_firstlineno)
            if where in watched:
                used.add(watched[where])
        elif event == "c_call" and id(arg) in watched:
            used.add(watched[id(arg)])

    outcome: dict = {}
    sys.setprofile(profile)
    threading.setprofile(profile)  # and in the threads the call starts
    try:
        with torch.set_grad_enabled(grad_enabled):
            result = _namespace()[name](*args, **kwargs)
        outcome["result"] = result
    except (Exception, SystemExit) as exc:  # a learner's sys.exit() fails the case
        lines = str(exc).strip().splitlines()
        outcome = {"raised": type(exc).__name__, "message": lines[0][:300] if lines else ""}
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    if grad and "result" in outcome:
        outputs = _tensors(result)
        outcome["graph"] = bool(outputs) and all(t.requires_grad for t in outputs)
        _graph = ([args[i] for i in grad], outputs)
    # what a checker may look at after the call: the tensors and generators it passed
    changed = lambda v: v if isinstance(v, torch.Tensor | torch.Generator) else None  # noqa: E731
    outcome["args"] = [changed(a) for a in args]
    outcome["kwargs"] = {k: changed(v) for k, v in kwargs.items()}
    outcome["uses"] = sorted(used)
    try:
        wire.write_message(Path(outbox) / "out", outcome)
    except wire.WireError as exc:
        outcome.pop("result", None)
        outcome.update(raised="TypeError", message=f"its result cannot be graded: {exc}")
        wire.write_message(Path(outbox) / "out", outcome)


def backward(inbox: str, outbox: str) -> None:
    """The gradients of the last call's inputs, given its outputs' gradients in ``inbox/in``
    (None where an output gets none); written to ``outbox/out``, None for an unused input."""
    inputs, outputs = _graph
    grad_outputs = wire.read_message(Path(inbox) / "in", trusted=True)
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs, strict=True) if g is not None]
    try:
        grads = torch.autograd.grad(
            [o for o, _ in pairs], inputs, [g for _, g in pairs], allow_unused=True
        )
        outcome = {"grads": [g.detach() if g is not None else None for g in grads]}
    except Exception as exc:
        outcome = {"raised": type(exc).__name__, "message": str(exc).strip()[:300]}
    wire.write_message(Path(outbox) / "out", outcome)
