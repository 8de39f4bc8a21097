"""Model builders: students and teachers around a re-uploading PQC, and energy models of task
families.

Both builders make the same architecture, differing in size::

    features [batch, n_features]
      -> Dense(n_qubits) "feature_projection"   (only when n_features > n_qubits)
      -> PQC "circuit": re-uploading circuit, one <Z_q> per qubit, [batch, n_qubits]
      -> Dense(n_outputs) "readout"             (regression values or class logits)

The classical readout gives outputs beyond the [-1, 1] range of expectation values (e.g. sinusoid
amplitudes up to 5) and class logits; classification models output **logits** (use
``from_logits=True`` losses). Teachers default to twice the qubits and layers of students.

:func:`energy_model` measures an ansatz on every Pauli term of a Hamiltonian family::

    features [batch, n_features]   (the task's parameters, e.g. Δ)
      -> FeatureColumns "data"      (the features the ansatz reads: all, or none)
      -> PQC "circuit": the ansatz, one ⟨P_k⟩ per term of the family, [batch, n_terms]
"""
import inspect

import cirq
import keras

from tfq_meta._compat.keras import flatten_layers
from tfq_meta._validation import check_choice, check_positive_int
from tfq_meta.circuits import CircuitSpec, reuploading_circuit
from tfq_meta.layers import PQC, FeatureColumns
from tfq_meta.tasks import HamiltonianFamily

TASKS = ("regression", "classification")
# The builders' options that go to the PQC layer; the others go to the circuit.
LAYER_OPTIONS = ("engine", "differentiator", "repetitions", "noise", "trajectories", "state_dtype")


def student(n_features, n_outputs=1, task="regression", n_qubits=4, n_layers=2, **circuit_options):
    """A small PQC model: by default 4 qubits and 2 re-uploading layers.

    With the defaults and ``n_features <= 4`` it has ``3 * 4 * 2 = 24`` rotation weights,
    ``2 * 4 = 8`` input scales and ``5 * n_outputs`` readout weights (1 output: 37 parameters).

    Args:
        n_features: number of input features.
        n_outputs: number of regression outputs, or number of classes.
        task: ``"regression"`` (linear outputs) or ``"classification"`` (logits).
        n_qubits: qubits of the circuit.
        n_layers: encoding repetitions of the re-uploading circuit.
        **circuit_options: passed on to :func:`tfq_meta.circuits.reuploading_circuit`
            (``encoding``, ``rotations``, ``entangler``, ``trainable_scaling``, default True) and
            to :class:`tfq_meta.layers.PQC` (``engine``, ``differentiator``, ``repetitions``,
            ``noise``, ``trajectories``, ``state_dtype``).

    Returns:
        An uncompiled ``keras.Model``.

    Example:
    >>> model = student(n_features=1)
    >>> model.count_params()
    37
    """
    return _pqc_model(n_features, n_outputs, task, n_qubits, n_layers, "student", circuit_options)


def teacher(n_features, n_outputs=1, task="regression", n_qubits=8, n_layers=4, **circuit_options):
    """A large PQC model: by default 8 qubits and 4 re-uploading layers.

    With the defaults and ``n_features <= 8`` it has ``5 * 8 * 2 = 80`` rotation weights,
    ``4 * 8 = 32`` input scales and ``9 * n_outputs`` readout weights (1 output: 121
    parameters). Arguments as in :func:`student`.

    Example:
    >>> model = teacher(n_features=1)
    >>> model.count_params()
    121
    """
    return _pqc_model(n_features, n_outputs, task, n_qubits, n_layers, "teacher", circuit_options)


def energy_model(ansatz, family, name="energy_model", **pqc_options):
    """A model whose outputs are the expectations of a Hamiltonian family's Pauli terms.

    Trained with the :class:`tfq_meta.Energy` loss on ``family.data(parameters)`` it is a VQE of
    every task at once; meta-trained by :class:`tfq_meta.MetaLearner` on ``family.episodes(…)``
    it learns an initialization that a few energy-descent steps adapt to a new task.

    Args:
        ansatz: a :class:`tfq_meta.circuits.CircuitSpec` on the family's qubits; its data
            symbols (if any) read the family's features in order, one each.
        family: a :class:`tfq_meta.tasks.HamiltonianFamily`.
        name: the model's name.
        **pqc_options: passed on to :class:`tfq_meta.layers.PQC` (``engine``, ``initializer``…).

    Returns:
        A functional ``keras.Model`` ``[batch, n_features] -> [batch, len(family.terms)]``.

    Example:
    >>> from tfq_meta import circuits, tasks
    >>> family = tasks.XXZChain(n_qubits=4)
    >>> model = energy_model(circuits.meta_vqe_ansatz(4, 1, 1), family)
    >>> model.output.shape
    (None, 16)
    """
    if not isinstance(ansatz, CircuitSpec):
        raise TypeError(f"`ansatz` must be a tfq_meta.circuits.CircuitSpec; got "
                        f"{type(ansatz).__name__}.")
    if not isinstance(family, HamiltonianFamily):
        raise TypeError(f"`family` must be a tfq_meta.tasks.HamiltonianFamily (e.g. "
                        f"tasks.XXZChain); got {type(family).__name__}.")
    _check_ansatz_qubits(ansatz, family)
    n_features = len(family.features(family.sample_parameters(1)[0]))
    if len(ansatz.data_symbols) not in (0, n_features):
        raise ValueError(
            f"`ansatz` reads {len(ansatz.data_symbols)} features {list(ansatz.data_symbols)}, "
            f"but the family's tasks have {n_features}: an ansatz reads all of them or none.")
    features = keras.Input(shape=(n_features,), name="features")
    data = FeatureColumns(list(range(len(ansatz.data_symbols))), name="data")(features)
    expectations = PQC(ansatz, family.observables, name="circuit", **pqc_options)(data)
    return keras.Model(features, expectations, name=name)


def _check_ansatz_qubits(ansatz, family):
    """The ansatz must act on exactly the family's qubits: on more, the energy would be that of
    a reduced, mixed state, which no user asking for a VQE means."""
    qubits = set(cirq.LineQubit.range(family.n_qubits))
    missing, extra = sorted(qubits - set(ansatz.qubits)), sorted(set(ansatz.qubits) - qubits)
    if missing or extra:
        problem = f"lacks {missing}" if missing else f"also acts on {extra}"
        raise ValueError(
            f"`ansatz` acts on {len(ansatz.qubits)} qubits, but the family's Hamiltonians act on "
            f"{family.n_qubits} (cirq.LineQubit 0 … {family.n_qubits - 1}); the ansatz "
            f"{problem}. Build it on the family's qubits, e.g. "
            f"circuits.xxz_ansatz({family.n_qubits}).")


def circuit_summary(model):
    """Sizes of a model's circuits and classical layers, for comparing students and teachers.

    Returns:
        dict with ``qubits`` (largest circuit), ``circuit_depth`` (moments of the deepest
        circuit), ``circuit_parameters``, ``classical_parameters`` and ``total_parameters``.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model; got {type(model).__name__}.")
    circuits = [layer for layer in flatten_layers(model) if isinstance(layer, PQC)]
    circuit_parameters = sum(layer.n_weights for layer in circuits)
    return {
        "qubits": max((len(layer.circuit.all_qubits()) for layer in circuits), default=0),
        "circuit_depth": max((len(layer.circuit) for layer in circuits), default=0),
        "circuit_parameters": circuit_parameters,
        "classical_parameters": model.count_params() - circuit_parameters,
        "total_parameters": model.count_params(),
    }


def _pqc_model(n_features, n_outputs, task, n_qubits, n_layers, name, options):
    check_positive_int(n_features, "n_features")
    check_positive_int(n_outputs, "n_outputs")
    check_choice(task, TASKS, "task")
    if task == "classification" and n_outputs < 2:
        raise ValueError(f"`n_outputs` is the number of classes for classification and must be "
                         f"at least 2; got {n_outputs}.")
    layer_options = {key: options.pop(key) for key in LAYER_OPTIONS if key in options}
    unknown = sorted(set(options) - set(inspect.signature(reuploading_circuit).parameters))
    if unknown:
        raise TypeError(f"`{name}` got unknown options {unknown}; it accepts those of "
                        f"circuits.reuploading_circuit and the PQC options {list(LAYER_OPTIONS)}.")
    options.setdefault("trainable_scaling", True)
    spec = reuploading_circuit(n_qubits, n_layers, n_features=min(n_features, n_qubits),
                               **options)

    features = keras.Input(shape=(n_features,), name="features")
    angles = features
    if n_features > n_qubits:
        angles = keras.layers.Dense(n_qubits, name="feature_projection")(features)
    expectations = PQC(spec, [f"Z{q}" for q in range(n_qubits)], name="circuit",
                       **layer_options)(angles)
    outputs = keras.layers.Dense(n_outputs, name="readout" if task == "regression" else "logits")(
        expectations)
    return keras.Model(features, outputs, name=name)
