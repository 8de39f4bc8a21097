"""Cirq backends as engines (tfq_meta.backends): exact expectations on a simulator equal Cirq's,
and their first and second derivatives the statevector engine's; sampled expectations and their
parameter-shift gradients on cirq.Simulator and cirq.DensityMatrixSimulator lie within 5σ of
their shot noise around the exact values; noise from the backend or from `noise=`; training,
XLA resolution, cloning, saving and export; and the errors."""
import math

import cirq
import keras
import numpy as np
import pytest
import sympy
import tensorflow as tf

from conftest import cirq_expectations
from engine_oracle import maml_fit_step
from tfq_meta import models, ops
from tfq_meta.export import export
from tfq_meta.kernels import KernelAlignment, ProjectedQuantumKernel
from tfq_meta.layers import PQC
from tfq_meta.meta import MetaLearner
from tfq_meta.xla import xla_is_valid

X0, X1, A, B = sympy.symbols("x0 x1 a b")
Q0, Q1 = cirq.LineQubit.range(2)
# Each symbol in one rotation with coefficient 1, so a symbol's parameter-shift gradient is one
# pair of shifted evaluations (its shot noise below needs that).
CIRCUIT = cirq.Circuit(cirq.rx(X0)(Q0), cirq.rx(X1)(Q1), cirq.ry(A)(Q0), cirq.ry(B)(Q1),
                       cirq.CNOT(Q0, Q1))
OBSERVABLES = ["Z0", "X1", "Z0*Z1"]
FEATURES = np.array([[0.3, -0.7], [1.2, 0.4], [-0.9, 2.1], [0.1, 0.8]], np.float32)
WEIGHTS = np.array([0.6, -1.3], np.float32)
SHOTS = 2000
SEED = 1234


def layer(engine, observables=OBSERVABLES, **options):
    pqc = PQC(CIRCUIT, observables, data_symbols=[X0, X1], engine=engine,
              initial_values={"a": float(WEIGHTS[0]), "b": float(WEIGHTS[1])}, **options)
    pqc.build((None, 2))
    return pqc


def derivatives(pqc):
    """Outputs ``[batch, n_obs]``, the features' gradient of a weighted sum of the outputs and
    the gradient of that gradient's sum (a sum of Hessian rows), eagerly."""
    features = tf.constant(FEATURES)
    cotangent = tf.constant([[1.0, -0.5, 0.8]])
    with tf.GradientTape() as outer:
        outer.watch(features)
        with tf.GradientTape() as inner:
            inner.watch(features)
            outputs = pqc(features)
            loss = tf.reduce_sum(cotangent * outputs)
        gradient = inner.gradient(loss, features)
        total = tf.reduce_sum(gradient)
    return outputs.numpy(), gradient.numpy(), outer.gradient(total, features).numpy()


def shot_sigma(exact):
    """The standard deviation of a single Pauli observable's mean over SHOTS shots."""
    return np.sqrt((1.0 - exact ** 2) / SHOTS)


def shifted_expectations(pqc, column, shift):
    """Exact expectations with feature ``column`` moved by ``shift`` radians."""
    features = FEATURES.astype(np.float64).copy()
    features[:, column] += shift
    return cirq_expectations(pqc, features)


def test_an_analytic_simulator_backend_equals_cirq_and_the_statevector_engine_to_second_order():
    backend = layer(cirq.Simulator())
    statevector = layer("statevector")
    assert backend.engine == "qsim" and backend.compiled_circuit.differentiator == \
        "parameter_shift"
    outputs, gradient, second = derivatives(backend)
    _, expected_gradient, expected_second = derivatives(statevector)
    np.testing.assert_allclose(outputs, cirq_expectations(backend, FEATURES), atol=1e-5)
    np.testing.assert_allclose(gradient, expected_gradient, atol=1e-4)
    np.testing.assert_allclose(second, expected_second, atol=1e-3)


@pytest.mark.parametrize("simulator", [cirq.Simulator, cirq.DensityMatrixSimulator])
def test_sampled_expectations_and_gradients_lie_within_five_sigma_of_the_exact(simulator):
    pqc = layer(simulator(seed=SEED), repetitions=SHOTS)
    features = tf.constant(FEATURES)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(features)
        outputs = pqc(features)
        columns = [outputs[:, k] for k in range(len(OBSERVABLES))]
    exact = cirq_expectations(pqc, FEATURES)
    assert np.all(np.abs(outputs.numpy() - exact) <= 5 * shot_sigma(exact))
    for k, column in enumerate(columns):
        gradient = tape.gradient(column, features).numpy()
        for j in range(FEATURES.shape[1]):
            plus = shifted_expectations(pqc, j, math.pi / 2)[:, k]
            minus = shifted_expectations(pqc, j, -math.pi / 2)[:, k]
            # rx(x) is X^(x/π): TFQ shifts the exponent by ±½ and scales by π/2, and d(x/π)/dx
            # is 1/π, so dE/dx = ½ (E₊ − E₋) from two independent sampled estimates.
            sigma = 0.5 * np.sqrt(shot_sigma(plus) ** 2 + shot_sigma(minus) ** 2)
            assert np.all(np.abs(gradient[:, j] - 0.5 * (plus - minus)) <= 5 * sigma)


def test_sampled_second_derivatives_lie_within_five_sigma_of_the_exact():
    pqc = layer(cirq.Simulator(seed=SEED), observables="Z0*Z1", repetitions=SHOTS)
    features = tf.constant(FEATURES[:2])   # 2 · 4 gates · 2 · 4 gates sampled circuits each
    with tf.GradientTape() as outer:
        outer.watch(features)
        with tf.GradientTape() as inner:
            inner.watch(features)
            outputs = pqc(features)
        gradient = inner.gradient(outputs, features)
    hessian = outer.batch_jacobian(gradient, features).numpy()    # [batch, j, k]
    quarter_turn = math.pi / 2
    for j in range(2):
        for k in range(2):
            # The in-graph rule's ½(∂_k E(x + π/2 e_j) − ∂_k E(x − π/2 e_j)), each ∂_k by TFQ's
            # shift rule: four independently sampled expectations, weights ±¼.
            terms = [sign_j * sign_k * shifted_pair(pqc, features.numpy(), j,
                                                    sign_j * quarter_turn, k,
                                                    sign_k * quarter_turn)
                     for sign_j in (1, -1) for sign_k in (1, -1)]
            exact = 0.25 * sum(terms)
            sigma = 0.25 * np.sqrt(sum(shot_sigma(term) ** 2 for term in terms))
            assert np.all(np.abs(hessian[:, j, k] - exact) <= 5 * sigma)


def shifted_pair(pqc, features, j, shift_j, k, shift_k):
    """Exact expectations ``[batch]`` with feature ``j`` and then ``k`` moved."""
    features = features.astype(np.float64)
    features[:, j] += shift_j
    features[:, k] += shift_k
    return cirq_expectations(pqc, features)[:, 0]


@pytest.mark.parametrize("p", [0.05])
def test_a_noisy_density_matrix_backend_equals_the_density_matrix_oracle(p):
    noisy_backend = layer(cirq.DensityMatrixSimulator(noise=cirq.depolarize(p)))
    noise_option = layer(cirq.DensityMatrixSimulator(), noise=p)
    exact = cirq_expectations(noisy_backend, FEATURES, noise=cirq.depolarize(p))
    assert not np.allclose(exact, cirq_expectations(noisy_backend, FEATURES), atol=1e-2)
    np.testing.assert_allclose(noisy_backend(FEATURES).numpy(), exact, atol=1e-5)
    np.testing.assert_allclose(noise_option(FEATURES).numpy(), exact, atol=1e-5)


# cirq.Simulator simulates each shot of a noisy circuit on its own (one trajectory each), which
# costs seconds per example: it gets one.
@pytest.mark.parametrize("simulator, rows", [(cirq.DensityMatrixSimulator, 4),
                                             (cirq.Simulator, 1)])
def test_noise_option_on_a_noiseless_sampler_lies_within_five_sigma_of_the_noisy_oracle(
        simulator, rows):
    pqc = layer(simulator(seed=SEED), observables="X1", noise=0.05, repetitions=SHOTS)
    exact = cirq_expectations(pqc, FEATURES[:rows], noise=cirq.depolarize(0.05))
    assert not np.allclose(exact, cirq_expectations(pqc, FEATURES[:rows]), atol=1e-2)
    assert np.all(np.abs(pqc(FEATURES[:rows]).numpy() - exact) <= 5 * shot_sigma(exact))


def test_quantum_data_runs_on_the_backend():
    import tensorflow_quantum as tfq   # quantum data are TFQ's serialized circuits

    pqc = layer(cirq.Simulator())
    data = [cirq.Circuit(cirq.X(Q0)), cirq.Circuit(cirq.H(Q1), cirq.T(Q0))]
    got = pqc([tfq.convert_to_tensor(data), FEATURES[:2]]).numpy()
    expected = [cirq_expectations(pqc, FEATURES[i], circuit=data[i] + pqc.circuit)[0]
                for i in range(2)]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_a_projected_kernel_on_a_backend_equals_the_statevector_engine_without_xla():
    def kernel(engine):
        keras.utils.set_random_seed(0)
        return ProjectedQuantumKernel(CIRCUIT, data_symbols=[X0, X1], engine=engine)

    on_backend = kernel(cirq.Simulator())
    np.testing.assert_allclose(on_backend.gram(FEATURES), kernel("statevector").gram(FEATURES),
                               atol=1e-5)
    aligner = KernelAlignment(on_backend)
    aligner.compile(optimizer="adam")
    assert aligner.jit_compile is False


def test_a_model_on_a_backend_trains_without_xla_and_clones_but_does_not_save(tmp_path):
    keras.utils.set_random_seed(0)
    pqc = layer(cirq.Simulator())
    model = keras.Sequential([keras.Input((2,)), pqc, keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = pqc.circuit_weights.numpy().copy()
    history = model.fit(FEATURES, np.ones((4, 1), np.float32), epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(pqc.circuit_weights.numpy(), before)
    assert pqc.supports_jit is False and xla_is_valid(model) is False
    assert PQC.from_config(pqc.get_config()).backend is pqc.backend
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    assert clone.layers[0].backend is pqc.backend
    np.testing.assert_allclose(clone(FEATURES).numpy(), model(FEATURES).numpy(), atol=1e-6)
    with pytest.raises(TypeError, match="cannot be written to a file"):
        model.save(tmp_path / "model.keras")
    with pytest.raises(ValueError, match="Cirq backend Simulator, which a SavedModel cannot hold"):
        export(model, tmp_path / "savedmodel")
    assert not (tmp_path / "savedmodel").exists()


def test_a_maml_fit_step_on_a_backend_equals_the_statevector_engines():
    for got, want in zip(maml_fit_step(cirq.Simulator()), maml_fit_step("statevector")):
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_meta_learner_resolves_xla_off_for_a_backend():
    meta = MetaLearner(models.student(n_features=1, n_qubits=2, n_layers=1,
                                      engine=cirq.Simulator()), inner_steps=1)
    meta.compile(loss="mse")
    assert meta.jit_compile is False


@pytest.mark.parametrize("engine", [42, object(), cirq.Circuit()])
def test_an_object_that_is_not_a_backend_is_named(engine):
    with pytest.raises(TypeError, match=r"`engine` must be one of 'auto', 'statevector', "
                                        r"'qsim', or a Cirq backend.*got"):
        ops.CompiledCircuit(CIRCUIT, [X0, X1, A, B], engine=engine)


class SamplerOnly(cirq.Sampler):
    """A sampler that is not a simulator, as hardware is."""

    def __init__(self):
        self._simulator = cirq.Simulator(seed=SEED)

    def run_sweep(self, program, params, repetitions=1):
        return self._simulator.run_sweep(program, params, repetitions)


class ExpectationsOnly(cirq.SimulatesExpectationValues):
    """A simulator that computes exact expectations and cannot sample."""

    def simulate_expectation_values_sweep(self, program, observables, params, qubit_order=
                                          cirq.QubitOrder.DEFAULT, initial_state=None,
                                          permit_terminal_measurements=False):
        return cirq.Simulator(dtype=np.complex128).simulate_expectation_values_sweep(
            program, observables, params, qubit_order, initial_state,
            permit_terminal_measurements)


def test_any_expectation_simulator_is_an_analytic_backend():
    pqc = layer(ExpectationsOnly())
    np.testing.assert_allclose(pqc(FEATURES).numpy(), cirq_expectations(pqc, FEATURES),
                               atol=1e-5)


def test_a_model_trained_exactly_gives_its_outputs_under_a_sampler_within_shot_noise():
    keras.utils.set_random_seed(0)

    def model(engine, **options):
        return keras.Sequential([keras.Input((2,)), layer(engine, **options),
                                 keras.layers.Dense(1)])

    trained = model("statevector")
    trained.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    trained.fit(FEATURES, np.sin(FEATURES[:, :1]), epochs=5, batch_size=4, verbose=0)
    sampled = model(cirq.DensityMatrixSimulator(seed=SEED), repetitions=SHOTS)
    sampled.set_weights(trained.get_weights())
    exact = cirq_expectations(sampled.layers[0], FEATURES)
    readout = trained.layers[1].kernel.numpy()[:, 0]
    # The readout sums independent estimates: σ² = Σ_k w_k² σ_k².
    sigma = np.sqrt(np.sum((readout * shot_sigma(exact)) ** 2, axis=1))
    deviation = sampled(FEATURES).numpy()[:, 0] - trained(FEATURES).numpy()[:, 0]
    assert np.all(np.abs(deviation) <= 5 * sigma)


def test_options_a_backend_cannot_honour_are_refused():
    symbols = [X0, X1, A, B]
    with pytest.raises(ValueError, match="only samples: pass `repetitions=`"):
        ops.CompiledCircuit(CIRCUIT, symbols, engine=SamplerOnly())
    with pytest.raises(ValueError, match="already has a noise model"):
        ops.CompiledCircuit(CIRCUIT, symbols, noise=0.01,
                            engine=cirq.DensityMatrixSimulator(noise=cirq.depolarize(0.01)))
    with pytest.raises(ValueError, match="need a density-matrix backend"):
        ops.CompiledCircuit(CIRCUIT, symbols, engine=cirq.Simulator(), noise=0.01)
    with pytest.raises(ValueError, match="need a density-matrix backend"):
        ops.CompiledCircuit(CIRCUIT, symbols, engine=cirq.Simulator(noise=cirq.depolarize(0.01)))
    with pytest.raises(ValueError, match="not on a Cirq backend"):
        ops.CompiledCircuit(CIRCUIT, symbols, engine=cirq.Simulator(), differentiator="adjoint")
    with pytest.raises(ValueError, match="`repetitions` \\(shots\\) need a cirq.Sampler"):
        ops.CompiledCircuit(CIRCUIT, symbols, engine=ExpectationsOnly(), repetitions=10)


def test_a_backend_is_not_held_to_the_local_simulators_memory():
    qubits = cirq.LineQubit.range(40)
    circuit = cirq.Circuit(cirq.rx(X0)(q) for q in qubits)
    with pytest.raises(ValueError, match="40 qubits"):
        ops.CompiledCircuit(circuit, [X0], engine="qsim").prepare("Z0")
    ops.CompiledCircuit(circuit, [X0], engine=SamplerOnly(), repetitions=10).prepare("Z0")


def test_a_pure_sampler_with_repetitions_runs():
    pqc = layer(SamplerOnly(), repetitions=SHOTS)
    exact = cirq_expectations(pqc, FEATURES)
    assert np.all(np.abs(pqc(FEATURES).numpy() - exact) <= 5 * shot_sigma(exact))
