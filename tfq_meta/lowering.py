"""Lowers a symbolic circuit to one fresh symbol per parameterized gate.

TFQ's serializer only accepts gate parameters of the form ``scalar * symbol``. We lift that limit:
every symbolic gate exponent (``w * x``, ``0.5 * x + 0.25``, ``sin(a)`` …) is
replaced by a fresh symbol ``_g{k}`` whose value TensorFlow computes from the user's symbol values,
so the chain rule stays exact and every fresh symbol appears once with coefficient 1, the form
parameter-shift rules need.
"""
import cirq
import numpy as np
import sympy
import tensorflow as tf

from tfq_meta._compat.cirq import with_exponent


class LoweredCircuit:
    """A circuit whose symbolic gate exponents are fresh symbols computed in TensorFlow.

    Args:
        circuit: a ``cirq.Circuit`` whose symbolic parameters are gate exponents of EigenGates
            (``rx``/``ry``/``rz``, X/Y/Z/H powers, CNOT/CZ/SWAP/ISWAP powers, XX/YY/ZZ powers).
        symbols: the ordered ``sympy.Symbol`` list that ``symbol_values`` columns refer to; it must
            cover every symbol of ``circuit``.

    Attributes:
        circuit: the lowered ``cirq.Circuit``, parameterized only by ``gate_symbols``.
        gate_symbols: names of the fresh symbols, one per parameterized gate.
    """

    def __init__(self, circuit, symbols):
        self.symbols = list(symbols)
        linear, nonlinear = [], []
        self.circuit = cirq.map_operations(
            circuit, lambda op, _: self._lower(op, linear, nonlinear), deep=True
        ).unfreeze(copy=False)
        self._linear_exprs = [expr for expr, _ in linear]
        self._nonlinear_exprs = [expr for expr, _ in nonlinear]
        # TFQ takes symbol names in any order: list linear ones first to match gate_values.
        self.gate_symbols = [name for _, name in linear + nonlinear]
        self._coefficients, self._offsets = self._linear_map()
        self._nonlinear_fns = [sympy.lambdify(self.symbols, _float_bases(expr),
                                              modules="tensorflow")
                               for expr in self._nonlinear_exprs]

    @property
    def angles_always_finite(self):
        """Whether every gate exponent is finite wherever the symbols are. When not, the check of
        computed angles is a graph assertion, which XLA compiles to nothing: layers report
        ``supports_jit = False`` so that the check always runs."""
        return all(_finite_at_finite_values(expr) for expr in self._nonlinear_exprs)

    def _lower(self, op, linear, nonlinear):
        if not cirq.is_parameterized(op):
            return op
        gate = op.gate
        if not isinstance(gate, cirq.EigenGate) or _non_exponent_parameters(gate):
            raise ValueError(
                f"Gate {op!r} has symbolic parameters tfq_meta cannot evaluate: symbols are "
                "supported as exponents of rx/ry/rz, X/Y/Z/H powers, CNOT/CZ/SWAP/ISWAP powers "
                "and XX/YY/ZZ powers. Resolve the other parameters to numbers first."
            )
        expr = sympy.sympify(gate.exponent)
        if expr.has(sympy.I):
            raise ValueError(f"Gate {op!r} has the complex exponent {expr}: gate exponents must "
                             "be real expressions of the symbols.")
        unknown = expr.free_symbols - set(self.symbols)
        if unknown:
            raise ValueError(f"Gate {op!r} uses symbols {sorted(map(str, unknown))} that are "
                             "neither data symbols nor weights.")
        target = linear if _is_linear(expr, self.symbols) else nonlinear
        name = f"_g{len(linear) + len(nonlinear)}"
        target.append((expr, name))
        return with_exponent(gate, sympy.Symbol(name)).on(*op.qubits)

    def _linear_map(self):
        coefficients = np.zeros((len(self.symbols), len(self._linear_exprs)), np.float64)
        offsets = np.zeros(len(self._linear_exprs), np.float64)
        zero = {s: 0 for s in self.symbols}
        for k, expr in enumerate(self._linear_exprs):
            offsets[k] = float(expr.subs(zero))
            for i, symbol in enumerate(self.symbols):
                coefficients[i, k] = float(sympy.diff(expr, symbol))
        return coefficients, offsets

    def gate_values(self, symbol_values):
        """Maps ``symbol_values`` ``[batch, len(symbols)]`` to ``[batch, len(gate_symbols)]``."""
        dtype = symbol_values.dtype
        values = tf.matmul(symbol_values, tf.constant(self._coefficients, dtype))
        values += tf.constant(self._offsets, dtype)
        if not self._nonlinear_fns:
            return values
        columns = tf.unstack(symbol_values, num=len(self.symbols), axis=1)
        nonlinear = [tf.cast(fn(*columns), dtype) * tf.ones_like(columns[0])
                     for fn in self._nonlinear_fns]
        nonlinear = _check_finite(tf.stack(nonlinear, axis=1), self._nonlinear_exprs)
        return tf.concat([values, nonlinear], axis=1)


def _check_finite(values, expressions):
    """``values`` ``[batch, len(expressions)]``, checked finite: a Python error when eager, a
    graph assertion otherwise (which XLA compiles to nothing).

    Finite symbol values keep linear exponents finite; only a nonlinear expression (``a / x``
    at ``x = 0``, ``sqrt(x)`` at ``x < 0``) can turn them into NaN, which every simulator would
    pass on silently as the output.
    """
    if tf.executing_eagerly():
        bad = ~np.all(np.isfinite(values.numpy()), axis=0)
        if bad.any():
            raise ValueError(_angle_error([e for e, b in zip(expressions, bad) if b]))
        return values
    # An assertion beside the values, rather than tf.debugging.check_numerics on them, so the
    # gradients (which can be NaN for other reasons during training) are not checked too.
    finite = tf.reduce_all(tf.math.is_finite(tf.stop_gradient(values)))
    with tf.control_dependencies([tf.debugging.Assert(finite, [_angle_error(expressions)])]):
        return tf.identity(values)


def _angle_error(expressions):
    listed = ", ".join(str(e) for e in expressions[:5]) + (" …" if len(expressions) > 5 else "")
    return (f"`circuit` gate exponents computed from the symbol values are NaN or infinite "
            f"(the exponent expression(s) {listed}, evaluated at the features and weights): "
            "every angle expression must be finite at the data it is given, e.g. no division by "
            "a feature that can be 0.")


# Functions finite wherever their argument is: bounded, or the identity's size.
_FINITE_FUNCTIONS = (sympy.sin, sympy.cos, sympy.tanh, sympy.atan, sympy.Abs, sympy.sign)


def _finite_at_finite_values(expr):
    """Polynomials of the symbols, and the functions above of them, are finite where the
    symbols are; a division, root, logarithm or exponential of a symbol may not be (``a / x``
    at 0, ``exp(x)`` or ``2**x`` overflowing float32)."""
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Pow) and not (node.is_number or
                                                (node.exp.is_Integer and node.exp >= 0)):
            return False
        if isinstance(node, sympy.Function) and not isinstance(node, _FINITE_FUNCTIONS):
            return False
    return True


def _float_bases(expr):
    """``expr`` with ``2**x`` as ``2.0**x``: TensorFlow's pow takes no int base with a float
    exponent."""
    return expr.replace(lambda e: isinstance(e, sympy.Pow) and e.base.is_Integer
                        and not e.exp.is_number,
                        lambda e: sympy.Pow(sympy.Float(e.base), e.exp, evaluate=False))


def _is_linear(expr, symbols):
    return all(sympy.diff(expr, a, b) == 0 for a in expr.free_symbols for b in symbols)


def _non_exponent_parameters(gate):
    """Symbolic parameters of ``gate`` other than its exponent (e.g. a symbolic global shift)."""
    return cirq.is_parameterized(with_exponent(gate, 0.0))
