"""Checks of quantum-data inputs, ``data_circuits``, before TFQ sees them.

TFQ reports a data circuit that does not parse, or a batch that differs from the features', as
an internal op error, and simulates a data circuit on a qubit the model circuit lacks as if
that qubit were not measured (outputs of exactly 1.0); these checks say what is wrong instead.
"""
import cirq
import tensorflow as tf

from tfq_meta import _tfq
from tfq_meta.ops import QUANTUM_DATA

_CONVERT = "build them with tfq.convert_to_tensor([cirq.Circuit, ...])"


def check_data_circuits(data_circuits, features, qubits):
    """``data_circuits`` (a string tensor ``[batch]``), checked against ``features``
    ``[batch, n]`` and the model circuit's ``qubits``.

    Eager tensors are checked in full: each entry must parse as a circuit on ``qubits``. In a
    graph, only the batch is checked (statically, else by an assertion): parsing every circuit
    there would cost a Python call per step.
    """
    if data_circuits.shape.rank not in (None, 1):
        raise ValueError("`data_circuits` must be a string tensor of shape [batch], one circuit "
                         f"per example; got shape {tuple(data_circuits.shape)}.")
    _check_batch(data_circuits.shape[0], features.shape[0])
    if tf.executing_eagerly():
        _check_circuits(data_circuits, qubits)
        return data_circuits
    check = tf.debugging.assert_equal(
        tf.shape(data_circuits)[0], tf.shape(features)[0],
        message="`data_circuits` and `features` must have the same batch size: one circuit per "
        "example.")
    with tf.control_dependencies([check]):
        return tf.identity(data_circuits)


def _check_batch(n_circuits, n_rows):
    if None not in (n_circuits, n_rows) and n_circuits != n_rows:
        raise ValueError(f"`data_circuits` has {n_circuits} circuits but `features` has {n_rows} "
                         "rows: give one circuit per example.")


def _check_circuits(data_circuits, qubits):
    tfq = _tfq.require(QUANTUM_DATA)
    for index, item in enumerate(data_circuits.numpy()):
        try:
            (circuit,) = tfq.from_tensor(tf.constant([item]))
        except (TypeError, ValueError):
            circuit = None
        if not isinstance(circuit, cirq.Circuit):
            raise ValueError(f"`data_circuits` entry {index} ({item[:40]!r}) is not a serialized "
                             f"cirq.Circuit: {_CONVERT}.")
        outside = sorted(circuit.all_qubits() - set(qubits))
        if outside:
            raise ValueError(
                f"`data_circuits` entry {index} acts on {outside}, which the model circuit does "
                f"not have; data circuits must act on the model circuit's qubits {qubits}.")
