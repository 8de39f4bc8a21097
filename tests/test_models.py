"""Student and teacher builders: sizes by closed form, outputs by composition with Cirq."""
import numpy as np
import pytest

from conftest import cirq_expectations
from tfq_meta import PQC, circuits, models, tasks


def rotation_weights(n_qubits, n_layers):
    return (n_layers + 1) * n_qubits * 2


@pytest.mark.parametrize("n_features, n_outputs", [(1, 1), (3, 2), (6, 1)])
def test_parameter_counts(n_features, n_outputs):
    student = models.student(n_features, n_outputs)
    teacher = models.teacher(n_features, n_outputs)
    for model, qubits, layers in ((student, 4, 2), (teacher, 8, 4)):
        encoded = max(min(n_features, qubits), qubits)  # one scale per encoding rotation
        projection = (n_features * qubits + qubits) if n_features > qubits else 0
        expected = (rotation_weights(qubits, layers) + layers * encoded + projection
                    + qubits * n_outputs + n_outputs)
        assert model.count_params() == expected
        summary = models.circuit_summary(model)
        assert summary["qubits"] == qubits
        assert summary["classical_parameters"] == projection + qubits * n_outputs + n_outputs
    assert teacher.count_params() > student.count_params()
    assert models.circuit_summary(teacher)["circuit_depth"] > models.circuit_summary(
        student)["circuit_depth"]


def test_regression_output_is_readout_of_circuit_expectations(rng):
    model = models.student(2, n_outputs=3, n_qubits=3, n_layers=1)
    x = rng.uniform(-2, 2, (4, 2)).astype(np.float32)
    circuit_layer = model.get_layer("circuit")
    kernel, bias = model.get_layer("readout").get_weights()
    model(x)
    expected = cirq_expectations(circuit_layer, x) @ kernel + bias
    np.testing.assert_allclose(model(x).numpy(), expected, atol=1e-5)


def test_classification_projects_features_and_outputs_logits(rng):
    model = models.student(10, n_outputs=4, task="classification", n_qubits=3, n_layers=1)
    x = rng.normal(size=(5, 10)).astype(np.float32)
    projection = model.get_layer("feature_projection")
    angles = x @ projection.get_weights()[0] + projection.get_weights()[1]
    kernel, bias = model.get_layer("logits").get_weights()
    circuit_layer = model.get_layer("circuit")
    model(x)
    expected = cirq_expectations(circuit_layer, angles) @ kernel + bias
    np.testing.assert_allclose(model(x).numpy(), expected, atol=1e-4)
    assert isinstance(circuit_layer, PQC)


def test_layer_options_reach_the_circuit():
    model = models.student(2, differentiator="parameter_shift", entangler="cz", n_layers=1)
    layer = model.get_layer("circuit")
    assert layer.compiled_circuit.differentiator == "parameter_shift"
    assert any(str(op.gate) == "CZ" for op in layer.circuit.all_operations())


def test_builders_name_unknown_options():
    with pytest.raises(TypeError, match=r"`student` got unknown options \['entangle'\]; it "
                                        r"accepts those of circuits.reuploading_circuit"):
        models.student(2, entangle="cz")
    with pytest.raises(TypeError, match=r"`teacher` got unknown options \['engin'\]"):
        models.teacher(2, engin="qsim")


def test_energy_model_needs_a_family_and_an_ansatz_on_exactly_its_qubits():
    family = tasks.XXZChain(n_qubits=4)
    with pytest.raises(TypeError, match="`family` must be a tfq_meta.tasks.HamiltonianFamily"):
        models.energy_model(circuits.xxz_ansatz(4), None)
    # A wider ansatz would give the energy of a reduced, mixed state: refused.
    with pytest.raises(ValueError, match=r"`ansatz` acts on 6 qubits, but the family's "
                                         r"Hamiltonians act on 4 .* also acts on "
                                         r"\[cirq.LineQubit\(4\), cirq.LineQubit\(5\)\]"):
        models.energy_model(circuits.xxz_ansatz(6), family)


def test_circuit_summary_needs_a_model():
    with pytest.raises(TypeError, match="`model` must be a keras.Model; got str"):
        models.circuit_summary("student")
