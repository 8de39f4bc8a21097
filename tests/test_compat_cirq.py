"""The Cirq entries of tfq_meta._compat: each gives what tfq_meta relies on, checked against
``cirq.unitary``, and Cirq still has no public way to get it. When a "still private" assertion
fails, Cirq has added one: switch to it and remove the entry."""
import cirq
import numpy as np
import pytest
import sympy

from tfq_meta._compat.cirq import eigen_components, with_exponent

T = sympy.Symbol("t")
GATES = [cirq.rx(T), cirq.ry(T), cirq.rz(T), cirq.XPowGate(exponent=T), cirq.HPowGate(exponent=T),
         cirq.CZPowGate(exponent=T), cirq.ISwapPowGate(exponent=T), cirq.ZZPowGate(exponent=T),
         cirq.CCZPowGate(exponent=T)]


@pytest.mark.parametrize("gate", GATES, ids=str)
def test_with_exponent_keeps_the_gate_and_replaces_its_exponent(gate):
    resolved = cirq.resolve_parameters(gate, {T: 0.37})
    np.testing.assert_allclose(cirq.unitary(with_exponent(gate, resolved.exponent)),
                               cirq.unitary(resolved), atol=1e-12)
    # An expression of another symbol: exponent 2u at u = 0.185 is the gate at exponent 0.37.
    renamed = with_exponent(gate, 2 * sympy.Symbol("u"))
    at_037 = cirq.resolve_parameters(gate, {T: 0.37 / float(sympy.diff(gate.exponent, T))})
    np.testing.assert_allclose(cirq.unitary(cirq.resolve_parameters(renamed, {"u": 0.185})),
                               cirq.unitary(at_037), atol=1e-12)


@pytest.mark.parametrize("gate", GATES, ids=str)
def test_eigen_components_rebuild_the_unitary_at_any_exponent(gate):
    exponent = 0.61
    resolved = cirq.resolve_parameters(gate, {T: exponent})
    components = eigen_components(resolved)
    # The half turns exclude the gate's global shift (Rx's is -1/2), a global phase.
    rebuilt = sum(np.exp(1j * np.pi * (theta + resolved.global_shift) * resolved.exponent)
                  * projector for theta, projector in components)
    np.testing.assert_allclose(rebuilt, cirq.unitary(resolved), atol=1e-12)


def test_cirq_still_has_no_public_exponent_replacement_or_eigencomponents():
    assert not hasattr(cirq, "eigencomponents") and not hasattr(cirq, "eigen_components")
    assert not hasattr(cirq.EigenGate, "with_exponent")
