"""What tfq_meta computes where TensorFlow Quantum is missing, next to independent oracles.

Run by ``tests/test_without_tfq.py`` in a fresh process whose ``import tensorflow_quantum``
fails (``tests/tfq_blocker.py``): :func:`main` prints one JSON object with, for each area that
runs on the statevector engine, tfq_meta's numbers and the oracle's (Cirq, finite differences of
a Cirq objective, NumPy formulas), and for each feature that needs TFQ the error it raised.
The test process compares them.
"""
import contextlib
import json
import os
import sys
import tempfile

import cirq
import keras
import numpy as np
import sympy
import tensorflow as tf

import meta_oracle
import tfq_meta
from conftest import cirq_expectations
from distillation_oracle import classifiers, features, kl_float32_rounding, kl_with_temperature
from tfq_meta import PQC, Distiller, MetaLearner, circuits, export, memory
from tfq_meta.distillation import LogitsDistillation
from tfq_meta.kernels import QuantumKernel

# The environment variable naming a directory where TFQ is installed wrote a model on the qsim
# engine as a SavedModel (``qsim_student``) and a Keras file (``qsim_student.keras``).
QSIM_MODELS = "TFQ_META_QSIM_MODELS"


def encoded_circuit(n_qubits, n_layers=1):
    """rx(x_q), then ``n_layers`` of ry(w_lq) on each qubit, then a CNOT chain."""
    qubits = cirq.LineQubit.range(n_qubits)
    xs = sympy.symbols(f"x0:{n_qubits}")
    ws = sympy.symbols(f"w0:{n_qubits * n_layers}")
    circuit = cirq.Circuit([cirq.rx(x)(q) for x, q in zip(xs, qubits)],
                           [cirq.ry(w)(qubits[i % n_qubits]) for i, w in enumerate(ws)],
                           [cirq.CNOT(a, b) for a, b in zip(qubits, qubits[1:])])
    return circuit, list(xs)


@contextlib.contextmanager
def available_memory(n_bytes):
    """Plans every simulation as if the machine had ``n_bytes`` of memory available."""
    original = memory.available_memory_bytes
    memory.available_memory_bytes = lambda: n_bytes
    try:
        yield
    finally:
        memory.available_memory_bytes = original


def pqc_outputs(rng, n_qubits):
    """PQC(engine="auto") against Cirq; above 12 qubits auto would pick qsim if it could."""
    circuit, data_symbols = encoded_circuit(n_qubits)
    layer = PQC(circuit, ["Z0", f"Z0*Z{n_qubits - 1}", "X1"], data_symbols=data_symbols)
    x = rng.uniform(0, np.pi, (3, n_qubits)).astype(np.float32)
    return {"engine": layer.engine, "value": np.asarray(layer(x)).tolist(),
            "oracle": cirq_expectations(layer, x).tolist()}


def meta_learner(rng):
    """One MAML step with SGD(1): θ' = θ − ∇(query loss after adaptation), then adapt θ'."""
    model = meta_oracle.circuit_model()
    meta = MetaLearner(model, algorithm="maml", inner_steps=1, inner_lr=0.3,
                       **meta_oracle.plain("maml"))
    meta.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse", jit_compile=False)
    episode = meta_oracle.regression_episode(rng)
    layer = model.get_layer("circuit")
    oracle = meta_oracle.CirqModel(layer)
    theta = layer.circuit_weights.numpy()
    gradient = meta_oracle.central_differences(
        lambda w: meta_oracle.maml_objective(oracle, episode, w, 1, 0.3), theta)
    meta.train_on_batch(episode)
    trained = layer.circuit_weights.numpy()
    support_x, support_y = episode["support_x"][0], episode["support_y"][0]
    adapted = meta.adapt(support_x, support_y, steps=1)
    adapted_weights = meta_oracle.adapt(oracle, support_x, support_y, theta - gradient, 1, 0.3)
    query_x = episode["query_x"][0]
    return {"weights": trained.tolist(), "weights_oracle": (theta - gradient).tolist(),
            "adapted": np.asarray(adapted(query_x)).reshape(-1).tolist(),
            "adapted_oracle": [oracle(x, adapted_weights) for x in query_x]}


def distiller(rng):
    """A Distiller step on unlabeled data: its loss is the teacher-student KL at T=2 of the
    predictions before the step, and only the student moves."""
    teacher, student = classifiers()
    distiller_model = Distiller(teacher, student, [LogitsDistillation(2.0)])
    distiller_model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False)
    x = features(rng, 8)
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    teacher_weights = [w.numpy().copy() for w in teacher.weights]
    loss = distiller_model.train_on_batch(x, return_dict=True)["loss"]
    return {"loss": float(loss), "oracle": kl_with_temperature(t, s, 2.0),
            "float32_rounding": kl_float32_rounding(t, s, 2.0),
            "teacher_moved": max(float(np.max(np.abs(w.numpy() - before)))
                                 for w, before in zip(teacher.weights, teacher_weights)),
            "student_moved": float(np.max(np.abs(student.predict(x, verbose=0) - s)))}


def kernel_gram(rng):
    """QuantumKernel's Gram matrix against overlaps of Cirq's final states."""
    spec = circuits.angle_encoding(3)
    kernel = QuantumKernel(spec)
    x = rng.uniform(0, np.pi, (4, 3)).astype(np.float32)
    simulator = cirq.Simulator(dtype=np.complex128)
    states = [simulator.simulate(
        spec.circuit, {str(s): float(v) for s, v in zip(kernel.data_symbols, row)},
        qubit_order=sorted(spec.circuit.all_qubits())).final_state_vector for row in x]
    oracle = np.abs(np.array([[np.vdot(a, b) for b in states] for a in states])) ** 2
    return {"method": kernel.method, "value": kernel.gram(x).tolist(), "oracle": oracle.tolist()}


def tuned_and_exported(rng):
    """A StudentHyperModel's model against Cirq (its PQC, then the Dense readout), exported
    and reloaded."""
    import keras_tuner

    from tfq_meta.tuning import StudentHyperModel

    model = StudentHyperModel(n_features=1, n_qubits=2, n_layers=1, learning_rate=0.05).build(
        keras_tuner.HyperParameters())
    pqc = next(layer for layer in model.layers if isinstance(layer, PQC))
    readout = model.get_layer("readout")
    x = rng.uniform(-1, 1, (5, 1)).astype(np.float32)
    kernel, bias = (w.numpy().astype(np.float64) for w in readout.weights)
    predictions = model.predict(x, verbose=0)
    with tempfile.TemporaryDirectory() as directory:
        export.export(model, f"{directory}/student")
        served = export.load(f"{directory}/student").serve(x)
    return {"engine": pqc.engine, "value": predictions.tolist(),
            "oracle": (cirq_expectations(pqc, x) @ kernel + bias).tolist(),
            "served": np.asarray(served).tolist()}


def errors_of_tfq_features():
    """The error each feature that needs TFQ raises when it is constructed (or loaded): {feature:
    [type, is a ModuleNotFoundError, message]}.

    With 3 GiB available, 21 qubits and 105 operations need 1.75 GiB per example on the
    statevector engine (half the memory is its budget) and 48 MiB per thread on qsim: only qsim
    could run them. 40 qubits fit neither.
    """
    circuit, data_symbols = encoded_circuit(2)
    with available_memory(3 * 2 ** 30):
        return _errors(circuit, data_symbols, *encoded_circuit(21, n_layers=4),
                       *encoded_circuit(40))


def _errors(circuit, data_symbols, large, large_symbols, huge, huge_symbols):
    attempts = {
        "engine='qsim'": lambda: PQC(circuit, "Z0", data_symbols, engine="qsim"),
        "repetitions": lambda: PQC(circuit, "Z0", data_symbols, repetitions=100),
        "noise": lambda: PQC(circuit, "Z0", data_symbols, noise=0.01),
        "Cirq backend": lambda: PQC(circuit, "Z0", data_symbols, engine=cirq.Simulator()),
        "quantum data": lambda: PQC(circuit, "Z0", data_symbols)(
            [tf.constant([""]), np.zeros((1, 2), np.float32)]),
        "method='pairwise'": lambda: QuantumKernel(circuits.angle_encoding(2),
                                                   method="pairwise"),
        "auto, 21 qubits": lambda: PQC(large, "Z0", large_symbols),
        "kernel auto, 21 qubits": lambda: QuantumKernel(large, large_symbols),
        "auto, 40 qubits": lambda: PQC(huge, "Z0", huge_symbols),
        "qsim SavedModel": lambda: export.load(os.path.join(os.environ[QSIM_MODELS],
                                                            "qsim_student")),
        "qsim .keras file": lambda: keras.saving.load_model(
            os.path.join(os.environ[QSIM_MODELS], "qsim_student.keras")),
    }
    raised = {}
    for feature, attempt in attempts.items():
        try:
            attempt()
        except Exception as error:  # the test asserts which type, with the message
            raised[feature] = [type(error).__name__, isinstance(error, ModuleNotFoundError),
                               str(error)]
        else:
            raised[feature] = None
    return raised


def main():
    rng = np.random.default_rng(1234)
    report = {
        "available": tfq_meta._tfq.available(),
        "pqc": pqc_outputs(rng, 2),
        "pqc_13_qubits": pqc_outputs(rng, 13),
        "meta_learner": meta_learner(rng),
        "distiller": distiller(rng),
        "kernel": kernel_gram(rng),
        "tuned_and_exported": tuned_and_exported(rng),
        "errors": errors_of_tfq_features(),
    }
    report["tfq_modules"] = sorted(name for name in sys.modules
                                   if name.split(".")[0] == "tensorflow_quantum")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
