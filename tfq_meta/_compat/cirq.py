"""Cirq's private APIs (checked on cirq-core 1.5)."""
from tfq_meta._compat import Workaround

# An EigenGate's exponent can be replaced, keeping the gate's kind and global shift, only through
# its private `_with_exponent`: the public `gate ** k` multiplies the exponent, which cannot turn
# a symbolic exponent into another symbol or expression. Lowering symbols to per-gate values and
# the JSON form of symbolic exponents need the replacement.
WITH_EXPONENT = Workaround("cirq-core", "https://github.com/quantumlib/Cirq/issues/2481")


def with_exponent(gate, exponent):
    """The EigenGate ``gate`` with its exponent replaced by ``exponent`` (a number or sympy
    expression); every other property of the gate is kept."""
    return gate._with_exponent(exponent)


# An EigenGate's spectrum as (half-turns θ, projector) pairs, where the gate at exponent t
# multiplies each eigenspace by exp(iπθt) up to its global phase, is only available through the
# private `_eigen_components`. A public `cirq.eigencomponents()` was asked for and not added
# (https://github.com/quantumlib/Cirq/issues/2492, closed); an eigendecomposition of
# `cirq.unitary` cannot give it for a symbolic exponent. The parameter-shift check and the
# statevector compiler need the exact θ.
EIGEN_COMPONENTS = Workaround("cirq-core", "https://github.com/quantumlib/Cirq/issues/2492")


def eigen_components(gate):
    """``[(θ, projector), …]`` of the EigenGate ``gate``: at exponent t it is
    ``Σ exp(iπ t (θ + global_shift)) projector``."""
    return gate._eigen_components()
