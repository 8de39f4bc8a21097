"""The noise channels a circuit may hold: what makes it noisy, without importing any simulator.

Noisy circuits run on the qsim engine (Monte-Carlo trajectories); these are the channels its
TensorFlow Quantum ops simulate. Knowing whether a circuit is noisy must not need TFQ, which may
be absent: the engine choice asks before TFQ is imported.

Example:
>>> import cirq
>>> q = cirq.LineQubit(0)
>>> is_noisy(cirq.Circuit(cirq.rx(0.3)(q), cirq.depolarize(0.01)(q)))
True
"""
import cirq

CHANNELS = (
    cirq.DepolarizingChannel, cirq.AsymmetricDepolarizingChannel, cirq.AmplitudeDampingChannel,
    cirq.GeneralizedAmplitudeDampingChannel, cirq.ResetChannel, cirq.PhaseDampingChannel,
    cirq.PhaseFlipChannel, cirq.BitFlipChannel,
)


def is_noisy(circuit):
    """Whether ``circuit`` holds any of the noise :data:`CHANNELS`."""
    return any(isinstance(op.gate, CHANNELS) for op in circuit.all_operations())
