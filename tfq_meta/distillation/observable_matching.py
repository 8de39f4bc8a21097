"""Observable matching: teacher and student circuits measured on the same Pauli observables."""
import cirq
import keras
from keras import ops

from tfq_meta.distillation.features import Feature, FeatureExtractor
from tfq_meta.distillation.losses import squared_distance
from tfq_meta.layers import PQC
from tfq_meta.observables import parse_observables


@keras.saving.register_keras_serializable(package="tfq_meta")
class ObservableDistillation(keras.distillation.DistillationLoss):
    """Matches expectation values of chosen observables on the teacher's and student's circuits.

    Both circuits are measured on ``observables`` for every input ``x`` (with their current
    weights and their models' layers before the circuit), whatever the models output:
    ``L = mean over x of Σ_k (⟨O_k⟩_teacher(x) − ⟨O_k⟩_student(x))²``. This transfers what the
    teacher's state says about ``x`` rather than only its final prediction.

    Observables are written on the teacher's qubits (index ``i`` is the ``i``-th of its sorted
    qubits, as for :class:`tfq_meta.layers.PQC`). The student measures the same Pauli strings on
    the qubits ``qubit_map`` assigns: with the map ``{0: 0, 5: 1}``, teacher ``"Z0*Z5"`` becomes
    student ``"Z0*Z1"``. Without a map, teacher qubit ``i`` is student qubit ``i``, which works
    while the observables stay on qubits the student has.

    Args:
        observables: a Pauli string (``"Z0"``, ``"Z0*Z1"``, ``"0.5*X2 - Z0"``), ``cirq.PauliSum``
            on the teacher's qubits, or a list of these.
        qubit_map: dict ``{teacher qubit index: student qubit index}``, one-to-one; must map
            every teacher qubit the observables act on.
        teacher_layer_name: the teacher's PQC layer; default its only top-level PQC layer.
        student_layer_name: the student's PQC layer; default its only top-level PQC layer.

    Example:
    >>> import numpy as np, tfq_meta
    >>> teacher = tfq_meta.models.teacher(n_features=2, n_qubits=3, n_layers=1)
    >>> student = tfq_meta.models.student(n_features=2, n_qubits=2, n_layers=1)
    >>> loss = ObservableDistillation(["Z0", "Z0*Z2", "X2"], qubit_map={0: 0, 2: 1})
    >>> loss.validate_model_compatibility(teacher, student)
    >>> [str(o) for o in loss.student_observables]
    ['1.000*Z(q(0))', '1.000*Z(q(0))*Z(q(1))', '1.000*X(q(1))']
    >>> teacher_values, student_values = loss.measure(np.zeros((5, 2), np.float32))
    >>> tuple(teacher_values.shape), tuple(student_values.shape)
    ((5, 3), (5, 3))
    """

    def __init__(self, observables, qubit_map=None, teacher_layer_name=None,
                 student_layer_name=None):
        self.observables = observables
        self.qubit_map = _check_qubit_map(qubit_map)
        # Private names: Keras' Distiller builds feature extractors of its own for losses that
        # have `teacher_layer_name` attributes; this loss declares `features()` instead.
        self._teacher_layer_name = teacher_layer_name
        self._student_layer_name = student_layer_name
        self._features = self._models = self._extractors = None

    def validate_model_compatibility(self, teacher, student):
        """Finds both circuits, maps the observables to the student and builds the measurements."""
        teacher_layer = _pqc_layer(teacher, self._teacher_layer_name, "teacher")
        student_layer = _pqc_layer(student, self._student_layer_name, "student")
        teacher_qubits = sorted(teacher_layer.circuit.all_qubits())
        student_qubits = sorted(student_layer.circuit.all_qubits())
        self.teacher_observables = parse_observables(self.observables, teacher_qubits)
        self.student_observables = [
            self._to_student(observable, teacher_qubits, student_qubits)
            for observable in self.teacher_observables]
        self._features = (Feature(teacher_layer.name, tuple(self.teacher_observables)),
                          Feature(student_layer.name, tuple(self.student_observables)))
        self._models = (teacher, student)
        self._extractors = None  # built by the first `measure`; a Distiller builds its own

    def features(self):
        """The teacher's and the student's circuit measured on the observables (see
        :class:`tfq_meta.distillation.features.Feature`)."""
        self._check_bound()
        return self._features

    def measure(self, x, training=False):
        """Teacher and student expectation values of the observables, each ``[batch, k]``.

        The teacher always runs in inference mode; ``training`` applies to the student.
        """
        self._check_bound()
        if self._extractors is None:
            self._extractors = tuple(FeatureExtractor(model, [feature])
                                     for model, feature in zip(self._models, self._features))
        teacher_extractor, student_extractor = self._extractors
        return (teacher_extractor(x, training=False)[0],
                student_extractor(x, training=training)[0])

    def _check_bound(self):
        if self._features is None:
            raise RuntimeError("ObservableDistillation is not bound to models yet: pass it to a "
                               "Distiller, or call validate_model_compatibility(teacher, "
                               "student).")

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        return ops.mean(squared_distance(teacher_outputs, student_outputs))

    def get_config(self):
        observables = self.observables
        if not isinstance(observables, str):
            observables = [o if isinstance(o, str) else cirq.to_json(o) for o in
                           ([observables] if isinstance(observables, cirq.PauliSum)
                            else observables)]
        return {"observables": observables,
                "qubit_map": None if self.qubit_map is None else
                [[t, s] for t, s in self.qubit_map.items()],
                "teacher_layer_name": self._teacher_layer_name,
                "student_layer_name": self._student_layer_name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        observables = config["observables"]
        if not isinstance(observables, str):
            config["observables"] = [o if _is_pauli_string(o) else cirq.read_json(json_text=o)
                                     for o in observables]
        if config["qubit_map"] is not None:
            config["qubit_map"] = {int(t): int(s) for t, s in config["qubit_map"]}
        return cls(**config)

    def _to_student(self, observable, teacher_qubits, student_qubits):
        """The PauliSum with each teacher qubit replaced by the student qubit mapped to it."""
        terms = []
        for term in observable:
            qubits = {q: student_qubits[self._student_index(teacher_qubits.index(q), observable,
                                                            len(student_qubits))]
                      for q in term.qubits}
            terms.append(cirq.PauliString({qubits[q]: p for q, p in term.items()},
                                          coefficient=term.coefficient))
        return cirq.PauliSum.from_pauli_strings(terms)

    def _student_index(self, teacher_index, observable, n_student_qubits):
        if self.qubit_map is None:
            if teacher_index < n_student_qubits:
                return teacher_index
            raise ValueError(
                f"`observables`: {observable} acts on teacher qubit {teacher_index}, but the "
                f"student's circuit has only {n_student_qubits} qubits (0-"
                f"{n_student_qubits - 1}). Give `qubit_map={{teacher qubit: student qubit}}` "
                "to say which student qubit stands for it, or measure other teacher qubits.")
        if teacher_index not in self.qubit_map:
            raise ValueError(
                f"`observables`: {observable} acts on teacher qubit {teacher_index}, which "
                f"`qubit_map` does not map to a student qubit; it maps teacher qubits "
                f"{sorted(self.qubit_map)}.")
        student_index = self.qubit_map[teacher_index]
        if student_index >= n_student_qubits:
            raise ValueError(
                f"`qubit_map` maps teacher qubit {teacher_index} to student qubit "
                f"{student_index}, but the student's circuit has only {n_student_qubits} qubits "
                f"(0-{n_student_qubits - 1}).")
        return student_index


def _check_qubit_map(qubit_map):
    if qubit_map is None:
        return None
    if not isinstance(qubit_map, dict) or not all(
            isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in
            list(qubit_map) + list(qubit_map.values())):
        raise ValueError("`qubit_map` must be a dict {teacher qubit index: student qubit index} "
                         f"of non-negative ints; got {qubit_map!r}.")
    if len(set(qubit_map.values())) != len(qubit_map):
        raise ValueError(f"`qubit_map` must be one-to-one: two teacher qubits map to the same "
                         f"student qubit in {qubit_map!r}.")
    return dict(qubit_map)


def _pqc_layer(model, layer_name, role):
    """The model's PQC layer named ``layer_name``, or its only top-level PQC layer."""
    if not getattr(model, "inputs", None):
        raise ValueError(f"ObservableDistillation needs a Functional or Sequential {role} (it "
                         f"feeds the {role}'s circuit the outputs of the layers before it); got "
                         f"a subclassed model, {type(model).__name__}.")
    circuits = [layer for layer in model.layers if isinstance(layer, PQC)]
    if layer_name is not None:
        circuits = [layer for layer in circuits if layer.name == layer_name]
        if not circuits:
            names = [each.name for each in model.layers]
            raise ValueError(f"`{role}_layer_name`: the {role} has no top-level PQC layer named "
                             f"{layer_name!r}; its layers are {names}.")
    if len(circuits) != 1:
        raise ValueError(f"The {role} has {len(circuits)} top-level PQC layers; name the one to "
                         f"measure with `{role}_layer_name`.")
    return circuits[0]


def _is_pauli_string(text):
    return not text.lstrip().startswith("{")
