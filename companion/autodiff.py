"""A tiny scalar automatic-differentiation engine: reverse mode (backpropagation) on Python floats.

Each :class:`Value` holds one number (``data``), the derivative of the final output with respect
to it (``grad``, filled in by :meth:`Value.backward`), the values it was computed from
(``parents``) and a closure that applies the chain rule for the one operation that made it.
For ``out = f(x, y)`` with upstream gradient ``out.grad`` = dL/d(out), that closure adds

    x.grad += dL/d(out) * d(out)/dx,      y.grad += dL/d(out) * d(out)/dy,

the local derivative written beside each operation below. ``+=``, not ``=``: a value used twice
(``x * x``) receives one contribution per use. :meth:`Value.backward` runs the closures in reverse
topological order (:meth:`Value.topological_order`: a node is visited only after every node that
uses it), so a node's ``grad`` has received all of its contributions before its own closure
passes it on to its parents. The design follows Karpathy's micrograd; unlike micrograd, the
topological sort is iterative (no recursion limit on deep graphs) and ``backward`` starts from
zero every time (calling it twice gives the same gradients).
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["Value"]

Number = int | float


class Value:
    """A scalar in a computation graph: ``data`` (float), ``grad`` (float, dL/d(this) after
    ``L.backward()``), ``parents`` (the Values it was computed from) and ``op`` (how).

    Supports ``+ - * /`` (with Values or plain numbers on either side), ``x ** k`` for a number
    ``k`` (a Value exponent, and a number raised to a Value, ``2 ** x``, are not supported: write
    ``(k * x.log()).exp()``), :meth:`exp`, :meth:`log`, :meth:`tanh`, :meth:`sigmoid` and
    :meth:`relu`.

    :meth:`backward` first sets ``grad`` to 0 on every Value of the graph, so gradients do not
    accumulate across calls (unlike PyTorch, whose ``.grad`` adds up until it is zeroed); within
    one call, a Value used several times receives the sum of its uses' contributions.

    Raises:
        TypeError: if ``data`` (or the other operand) is not an int, float or Value; a bool is
            not accepted.
        ValueError: ``x ** k`` with ``x < 0`` and a non-integer ``k`` (not a real number);
            :meth:`log` of a number <= 0.
    """

    __slots__ = ("_backward", "data", "grad", "op", "parents")

    def __init__(self, data: Number, parents: tuple[Value, ...] = (), op: str = "") -> None:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise TypeError(
                f"data={data!r} must be an int or a float (got {type(data).__name__}); "
                "a Value holds one number, e.g. Value(2.0); for a tensor use torch.autograd"
            )
        self.data = float(data)
        self.grad = 0.0
        self.parents = parents
        self.op = op
        self._backward: Callable[[], None] = lambda: None  # a leaf has nothing to pass on

    def __repr__(self) -> str:
        return f"Value(data={self.data:.4g}, grad={self.grad:.4g})"

    @staticmethod
    def _lift(other: Value | Number) -> Value:
        """``other`` as a Value (a constant leaf if it is a number)."""
        if isinstance(other, Value):
            return other
        if isinstance(other, bool) or not isinstance(other, int | float):
            raise TypeError(
                f"cannot combine a Value with {other!r} ({type(other).__name__}); "
                "the other operand must be a Value, an int or a float"
            )
        return Value(other)

    # --- operations: out = f(inputs), and the chain rule for f ----------------------------------

    def __add__(self, other: Value | Number) -> Value:
        other = self._lift(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward() -> None:  # d(x + y)/dx = 1, d(x + y)/dy = 1
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value | Number) -> Value:
        other = self._lift(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward() -> None:  # d(x y)/dx = y, d(x y)/dy = x
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, exponent: Number) -> Value:
        if isinstance(exponent, bool) or not isinstance(exponent, int | float):
            raise TypeError(
                f"exponent={exponent!r} must be an int or a float constant; "
                "for a Value exponent write (y * x.log()).exp()"
            )
        if self.data < 0 and not float(exponent).is_integer():
            raise ValueError(
                f"a negative base ({self.data!r}) to the non-integer power {exponent!r} is not a "
                "real number"
            )
        out = Value(self.data**exponent, (self,), f"**{exponent}")

        def _backward() -> None:  # d(x^k)/dx = k x^(k-1), and 0 for k = 0 (x^0 = 1, even at 0)
            if exponent != 0 and self.data == 0 and exponent < 1:
                raise ZeroDivisionError(
                    f"d(x**{exponent})/dx is infinite at x = 0 (k x^(k-1) with k - 1 < 0); "
                    "keep the base away from 0, e.g. (x + 1e-12) ** k"
                )
            if exponent != 0:
                self.grad += exponent * self.data ** (exponent - 1) * out.grad

        out._backward = _backward
        return out

    def exp(self) -> Value:
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward() -> None:  # d(e^x)/dx = e^x
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        """The natural logarithm; raises ValueError (from math.log) for data <= 0."""
        out = Value(math.log(self.data), (self,), "log")

        def _backward() -> None:  # d(ln x)/dx = 1/x
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        out = Value(math.tanh(self.data), (self,), "tanh")

        def _backward() -> None:  # d(tanh x)/dx = 1 - tanh(x)^2
            self.grad += (1.0 - out.data**2) * out.grad

        out._backward = _backward
        return out

    def sigmoid(self) -> Value:
        s = 0.5 * (1.0 + math.tanh(0.5 * self.data))  # = 1 / (1 + e^-x), without overflow
        out = Value(s, (self,), "sigmoid")

        def _backward() -> None:  # d(sigma(x))/dx = sigma(x) (1 - sigma(x))
            self.grad += out.data * (1.0 - out.data) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> Value:
        out = Value(max(self.data, 0.0), (self,), "relu")

        def _backward() -> None:  # d(max(x, 0))/dx = 1 if x > 0 else 0 (0 at x = 0, as PyTorch)
            self.grad += (self.data > 0) * out.grad

        out._backward = _backward
        return out

    # --- the rest, built from the operations above ------------------------------------------------

    def __neg__(self) -> Value:
        return self * -1

    def __sub__(self, other: Value | Number) -> Value:
        return self + (-self._lift(other))

    def __truediv__(self, other: Value | Number) -> Value:
        return self * self._lift(other) ** -1

    def __radd__(self, other: Number) -> Value:  # 2 + x
        return self + other

    def __rmul__(self, other: Number) -> Value:  # 2 * x
        return self * other

    def __rsub__(self, other: Number) -> Value:  # 2 - x
        return self._lift(other) - self

    def __rtruediv__(self, other: Number) -> Value:  # 2 / x
        return self._lift(other) / self

    # --- reverse mode -------------------------------------------------------------------------

    def topological_order(self) -> list[Value]:
        """Every Value this one depends on (itself included), each once, in topological order:
        every node after all of its parents, ``self`` last.

        An iterative depth-first search (no recursion limit on deep graphs) that appends a node
        when it is *finished*, i.e. after everything it depends on has been appended. A node is
        marked when it is first expanded, not when it is first pushed: marking on push would let
        a node that is reachable along two paths be appended before one of its parents (in
        ``a + 3 * a`` the sum's operand ``a`` could come after ``3 * a``, which uses it)."""
        order: list[Value] = []
        expanded: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, finished = stack.pop()
            if finished:  # everything pushed above it (its parents) has been appended
                order.append(node)
                continue
            if id(node) in expanded:  # already appended, or on the stack below as finished
                continue
            expanded.add(id(node))
            stack.append((node, True))
            stack.extend((parent, False) for parent in node.parents if id(parent) not in expanded)
        return order

    def backward(self) -> None:
        """Fill ``grad`` of every Value this one depends on with d(self)/d(that Value).

        The gradients are computed afresh: every ``grad`` in the graph is first set to 0 and
        d(self)/d(self) to 1, so calling ``backward`` twice gives the same gradients (PyTorch
        instead *adds* to ``.grad`` on each call, which is why its training loops zero them).
        """
        order = self.topological_order()
        for node in order:
            node.grad = 0.0
        self.grad = 1.0  # dL/dL
        for node in reversed(order):  # every node that uses `node` has already passed its share on
            node._backward()
