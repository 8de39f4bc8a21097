"""Trained circuits out: a model's circuits with every weight and feature resolved to numbers.

After ``fit`` (or ``MetaLearner.adapt``, or distillation) a model's PQC layers hold trained
weights. :func:`resolved_circuits` runs the model on given inputs and returns, for each PQC layer,
its circuit per example with the data symbols set to that layer's own input features and every
other symbol to its trained weight: plain ``cirq.Circuit`` objects without free symbols, and the
measured observables as ``cirq.PauliSum``. They run on Cirq's simulators, on a device, or in any
tool that reads OpenQASM 2.0 (:meth:`ResolvedCircuits.to_qasm`).
"""
import dataclasses

import cirq
import keras
import tensorflow as tf

from tfq_meta._compat.keras import flatten_layers, is_functional, run_through_graph
from tfq_meta._validation import checked_finite
from tfq_meta.distillation import Distiller
from tfq_meta.layers import PQC
from tfq_meta.meta import MetaLearner


@dataclasses.dataclass(frozen=True)
class ResolvedCircuits:
    """One PQC layer's circuits without free symbols, one per example, and its observables.

    Attributes:
        circuits: list of ``cirq.Circuit``, one per example.
        observables: list of ``cirq.PauliSum``: the expectation of ``observables[k]`` on
            ``circuits[i]`` is the layer's output ``[i, k]``.
        qubits: the circuits' qubits, sorted: Pauli-string index ``i`` of the layer (``"Z0"``) is
            ``qubits[i]``, and so is register ``q[i]`` of :meth:`to_qasm`. Simulate with
            ``qubit_order=qubits``.

    Example:
    >>> q = cirq.LineQubit(0)
    >>> resolved = ResolvedCircuits([cirq.Circuit(cirq.rx(0.5)(q))],
    ...                             [cirq.PauliSum.from_pauli_strings(cirq.Z(q))])
    >>> print(resolved.to_qasm()[0].splitlines()[-1])
    rx(pi*0.1591549431) q[0];
    """

    circuits: list
    observables: list

    def __post_init__(self):
        for i, circuit in enumerate(self.circuits):
            if cirq.is_parameterized(circuit):
                raise ValueError(
                    f"`circuits[{i}]` still has free symbols "
                    f"{sorted(cirq.parameter_names(circuit))}; resolved circuits take a value "
                    "for every symbol (data circuits must not have symbols of their own).")

    @property
    def qubits(self):
        qubits = set().union(*(c.all_qubits() for c in self.circuits))
        return sorted(qubits.union(*(o.qubits for o in self.observables)))

    def to_qasm(self):
        """Each circuit as an OpenQASM 2.0 program, written by Cirq.

        Gates of qelib1 (``rx``/``ry``/``rz``, ``h``, ``x``, ``cx``, ``cz``, ``swap``…) are
        written as themselves; other unitary gates on up to three qubits (XX/YY/ZZ and ISWAP
        powers, Givens rotations, fractional CNOT/CZ powers…) as Cirq's decompositions into qelib1
        gates, equal up to a global phase.

        Returns:
            list of ``str``, one program per circuit, registers ``q[i]`` in the order of
            ``qubits``.

        Raises:
            ValueError: naming the first operation OpenQASM 2.0 cannot express (a noise channel,
                an opaque gate on four or more qubits).
        """
        qubits = self.qubits
        return [_qasm(circuit, qubits) for circuit in self.circuits]


def resolved_circuits(model, x):
    """Each PQC layer's circuits for inputs ``x``, with the model's current weights resolved.

    The model runs on ``x``; each PQC layer's circuit is resolved with the features that reach
    it (after any classical layers in front of it) and its own weights. Simulating the circuits
    with Cirq reproduces the layer's outputs inside the model (and the model's predictions when
    they are the PQC's outputs).

    Args:
        model: a built Sequential or functional ``keras.Model`` (nested models too), a
            :class:`tfq_meta.layers.PQC` layer, a ``Distiller`` (its student) or a
            ``MetaLearner`` (its meta-learned initialization; ``MetaLearner.adapt`` returns an
            adapted model to pass instead).
        x: the model's inputs, as for ``model.predict``: an array ``[batch, ...]``, or a list
            for several inputs (e.g. ``[data_circuits, features]``).

    Returns:
        dict ``{layer name: ResolvedCircuits}``, one entry per PQC layer, in the order the model
        runs them; a PQC inside a nested model is named ``"nested_model/layer"``.

    Example:
    >>> import numpy as np
    >>> from tfq_meta import models
    >>> student = models.student(n_features=1, n_qubits=2, n_layers=1)
    >>> resolved = resolved_circuits(student, np.array([[0.3], [1.2]], np.float32))
    >>> resolved["circuit"].circuits[0].has_measurements(), len(resolved["circuit"].circuits)
    (False, 2)
    """
    if isinstance(model, (Distiller, MetaLearner)):
        model = model.student if isinstance(model, Distiller) else model.model
    if isinstance(model, PQC):
        return {model.name: model.resolved_circuits(x)}
    if not isinstance(model, keras.Model):
        raise TypeError("`model` must be a keras.Model, a PQC layer, a Distiller or a "
                        f"MetaLearner; got {type(model).__name__}.")
    if not any(isinstance(layer, PQC) for layer in flatten_layers(model)):
        raise ValueError(f"`model` {model.name!r} has no PQC layer, so it has no circuit to "
                         "resolve; pass a model built with tfq_meta.layers.PQC.")
    if not (isinstance(model, keras.Sequential) or is_functional(model)):
        raise _subclassed(model)
    pqc_inputs = {}
    _run_model(model, _model_inputs(model, x), pqc_inputs, prefix="")
    return {name: layer.resolved_circuits(inputs)
            for name, (layer, inputs) in pqc_inputs.items()}


def _model_inputs(model, x):
    """``x`` as tensors of the model's input dtypes, checked against its input shapes."""
    if not model.built or not getattr(model, "inputs", None):
        raise ValueError(f"`model` {model.name!r} is not built: call or fit it first, so its "
                         "circuits have weights to resolve.")
    values = [x]
    if len(model.inputs) > 1:
        values = list(x) if isinstance(x, (list, tuple)) else [x]
        if len(values) != len(model.inputs):
            raise ValueError(f"`x` must be a list of {len(model.inputs)} arrays, one per input of "
                             f"model {model.name!r}; got {len(values)}.")
    tensors = [_input_tensor(value, spec) for value, spec in zip(values, model.inputs)]
    return tensors[0] if len(tensors) == 1 else tensors


def _input_tensor(value, spec):
    value = tf.convert_to_tensor(value)
    if spec.dtype == "string":  # quantum data: serialized circuits, checked by the PQC
        return value
    if not (value.dtype.is_floating or value.dtype.is_integer):
        raise TypeError(f"`x` must hold numbers for the model's input of dtype {spec.dtype}; "
                        f"got dtype {value.dtype.name}.")
    shape, expected = tuple(value.shape), tuple(spec.shape)
    if len(shape) != len(expected) or any(e is not None and e != s
                                          for s, e in zip(shape[1:], expected[1:])):
        raise ValueError(f"`x` has shape {shape}, but the model takes inputs of shape "
                         f"{expected} (None: any size).")
    checked_finite(value, "`x` contains NaN or infinite values; circuit angles must be finite.")
    return tf.cast(value, spec.dtype)


def _run_model(model, inputs, pqc_inputs, prefix):
    """``model(inputs)`` layer by layer, recording each PQC layer's inputs in ``pqc_inputs``."""
    if isinstance(model, keras.Sequential):
        for layer in model.layers:
            inputs = _run(layer, inputs, pqc_inputs, prefix)
        return inputs
    if is_functional(model):
        def operation_fn(operation):
            return lambda *args, **kwargs: _run(operation, args[0], pqc_inputs, prefix,
                                                args[1:], kwargs)
        return run_through_graph(model, inputs, operation_fn)
    raise _subclassed(model)


def _subclassed(model):
    return TypeError(f"Model {model.name!r} is a subclassed {type(model).__name__}, whose layers' "
                     "inputs cannot be traced: build it as a keras.Sequential or functional "
                     "model.")


def _run(layer, inputs, pqc_inputs, prefix, args=(), kwargs=None):
    """``layer(inputs, *args, **kwargs)``, recording the inputs of the PQC layers it runs."""
    if isinstance(layer, PQC):
        name = prefix + layer.name
        if name in pqc_inputs:
            raise ValueError(f"PQC layer {name!r} runs more than once in the model; resolved "
                             "circuits take each PQC layer called once.")
        pqc_inputs[name] = (layer, inputs)
        return layer(inputs)
    if not isinstance(layer, keras.layers.Layer) or not any(
            isinstance(sub, PQC) for sub in flatten_layers(layer)):
        return layer(inputs, *args, **(kwargs or {}))
    return _run_model(layer, inputs, pqc_inputs, f"{prefix}{layer.name}/")


def _qasm(circuit, qubits):
    try:
        return circuit.to_qasm(qubit_order=qubits)
    except ValueError:
        operation = next((op for op in circuit.all_operations() if not _writable(op, qubits)),
                         None)
        if operation is None:
            raise
        raise ValueError(
            f"OpenQASM 2.0 cannot express {_describe(operation)}: Cirq writes unitary gates on up "
            "to three qubits. Rewrite it with such gates first (cirq.decompose, "
            "cirq.optimize_for_target_gateset(circuit, gateset=cirq.CZTargetGateset())), and "
            "leave out noise channels.") from None


def _writable(operation, qubits):
    try:
        cirq.Circuit(operation).to_qasm(qubit_order=qubits)
    except ValueError:
        return False
    return True


def _describe(operation):
    text = repr(operation)
    if len(text) <= 120:
        return text
    return f"a {type(operation.gate or operation).__name__} on {list(operation.qubits)}"
