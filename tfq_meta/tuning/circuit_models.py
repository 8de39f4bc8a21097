"""keras-tuner search spaces of PQC models: StudentHyperModel and TeacherHyperModel.

Both build a functional PQC model (projection → re-uploading circuit → Dense) with a tuned
circuit and learning rate; they differ in the model builder (:func:`tfq_meta.models.student`
or ``teacher``) and in the default circuit widths and depths.
"""
import keras
import keras_tuner
from keras_tuner.engine import hyperparameters as hp_types

from tfq_meta import models
from tfq_meta._validation import check_choice, check_positive_float, check_positive_int
from tfq_meta.circuits import ENTANGLERS, ROTATIONS
from tfq_meta.meta.task_losses import check_loss
from tfq_meta.tuning._space import (check_bool, declare, failed_trial_on_invalid_model,
                                    search_space)

# Fixed options passed on to tfq_meta.models.student / teacher (see their docstrings).
MODEL_OPTIONS = ("rotations", "engine", "differentiator", "repetitions", "noise", "trajectories",
                 "state_dtype")
# The tuned arguments of the circuit; the other one, learning_rate, goes to the optimizer.
ARCHITECTURE = ("n_qubits", "n_layers", "encoding", "entangler", "trainable_scaling")
_COMPILE_ARGUMENTS_OF_THE_HYPERMODEL = ("optimizer", "loss", "metrics")
# Metric names that keras.Model.compile resolves by the loss, which keras.metrics.get does not know.
_COMPILE_METRIC_ALIASES = ("acc", "accuracy", "crossentropy", "ce")


class CircuitModelHyperModel(keras_tuner.HyperModel):
    """A functional PQC model (projection → re-uploading circuit → Dense) with a tuned circuit.

    Subclasses set ``model_builder`` (:func:`tfq_meta.models.student` or ``teacher``) and the
    default ranges of ``n_qubits`` and ``n_layers``. The arguments are documented in
    :class:`StudentHyperModel`.
    """

    # The objective to give the tuner: the loss on `validation_data`.
    objective = keras_tuner.Objective("val_loss", direction="min")
    model_builder = None  # a staticmethod in subclasses
    default_n_qubits = None
    default_n_layers = None

    def __init__(self, n_features, n_outputs=1, task="regression", n_qubits=None, n_layers=None,
                 encoding=None, entangler=None, trainable_scaling=None, learning_rate=None,
                 optimizer="adam", loss=None, metrics=None, compile_options=None, name=None,
                 tunable=True, **model_options):
        super().__init__(name=name, tunable=tunable)
        self.n_features = check_positive_int(n_features, "n_features")
        self.n_outputs = check_positive_int(n_outputs, "n_outputs")
        self.task = check_choice(task, models.TASKS, "task")
        if task == "classification" and n_outputs < 2:
            raise ValueError(f"`n_outputs` is the number of classes for classification and must "
                             f"be at least 2; got {n_outputs}.")
        self.model_options = _check_model_options(model_options)
        self.hyperparameters = search_space(
            (n_qubits, self.default_n_qubits, check_positive_int),
            (n_layers, self.default_n_layers, check_positive_int),
            (encoding, hp_types.Choice("encoding", list(ROTATIONS)), _choice_of(ROTATIONS)),
            (entangler, hp_types.Choice("entangler", list(ENTANGLERS)), _choice_of(ENTANGLERS)),
            (trainable_scaling, hp_types.Boolean("trainable_scaling", default=True), check_bool),
            (learning_rate,
             hp_types.Float("learning_rate", 1e-3, 1e-1, sampling="log", default=1e-2),
             check_positive_float))
        self.optimizer = _optimizer_class(optimizer)
        self.loss = _check_loss(loss) if loss is not None else _default_loss(task)
        self.metrics = _check_metrics(metrics) if metrics is not None else _default_metrics(task)
        self.compile_options = _check_compile_options(compile_options)

    def build(self, hp):
        """Builds the model of this trial, compiled with the trial's learning rate."""
        model = self.build_model(hp)
        model.compile(optimizer=self.build_optimizer(hp), loss=self.loss, metrics=self.metrics,
                      **self.compile_options)
        # Optimizer variables now: Hyperband then restores them (Adam's moments) with the weights
        # when it continues a trial, instead of skipping them as unmatched.
        model.optimizer.build(model.trainable_variables)
        return model

    def build_model(self, hp):
        """Declares the circuit's hyperparameters in ``hp`` and builds the uncompiled model."""
        architecture = declare(hp, self.hyperparameters, ARCHITECTURE)
        with failed_trial_on_invalid_model(hp):
            return self.model_builder(self.n_features, self.n_outputs, self.task,
                                      **architecture, **self.model_options)

    def build_optimizer(self, hp):
        """Declares ``learning_rate`` in ``hp`` and returns a fresh optimizer with it."""
        learning_rate = declare(hp, self.hyperparameters, ["learning_rate"])["learning_rate"]
        return self.optimizer(learning_rate=learning_rate)


class StudentHyperModel(CircuitModelHyperModel):
    """Searches the circuit and learning rate of a :func:`tfq_meta.models.student` model.

    Each trial builds ``models.student(n_features, n_outputs, task, n_qubits, n_layers,
    encoding=…, entangler=…, trainable_scaling=…)``, compiled with the trial's learning rate.
    Use it with any keras-tuner tuner (``RandomSearch``, ``BayesianOptimization``,
    ``Hyperband`` …) and ``objective=hypermodel.objective`` (``"val_loss"``).

    Every tuned argument takes ``None`` (the default space below), a fixed value, a list of
    choices (the first is built when the tuner is created, so make it a valid one), or a
    keras-tuner hyperparameter for ranges, steps or log sampling, e.g.
    ``keras_tuner.engine.hyperparameters.Int("n_qubits", 2, 8, step=2)``. Values that are never
    valid (an unknown entangler, zero layers …) raise a ValueError naming the argument here.
    The tuner's own ``hyperparameters=`` override these arguments (see :mod:`tfq_meta.tuning`).
    A combination that cannot be built in a trial (e.g. more qubits than fit in memory, or a
    value the tuner's own ``hyperparameters`` registered in advance) makes that trial FAILED,
    with the reason in ``trial.message``, and the search goes on.

    Args:
        n_features: number of input features.
        n_outputs: number of regression outputs, or number of classes.
        task: ``"regression"`` (linear outputs) or ``"classification"`` (logits).
        n_qubits: qubits of the circuit; default ``Int(2, 6)``, starting at 4.
        n_layers: encoding repetitions of the re-uploading circuit; default ``Int(1, 4)``,
            starting at 2.
        encoding: rotation encoding the features, from ``"rx"``, ``"ry"``, ``"rz"``; default all
            three.
        entangler: entangling pattern, from :data:`tfq_meta.circuits.ENTANGLERS`; default all.
        trainable_scaling: whether every encoding rotation has a trainable input scale; default
            ``Boolean``, starting at True.
        learning_rate: of the optimizer; default ``Float(1e-3, 0.1, sampling="log")``, starting
            at 0.01.
        optimizer: a Keras optimizer name or class, created in each trial with the tuned
            learning rate.
        loss: default ``"mse"`` for regression and
            ``SparseCategoricalCrossentropy(from_logits=True)`` for classification.
        metrics: default ``["mae"]`` for regression and ``["accuracy"]`` for classification.
        compile_options: other ``keras.Model.compile`` arguments, e.g. ``{"jit_compile": True}``.
        name, tunable: as for ``keras_tuner.HyperModel``.
        **model_options: fixed options of :func:`tfq_meta.models.student`: ``rotations``,
            ``engine``, ``differentiator``, ``repetitions``, ``noise``, ``trajectories``,
            ``state_dtype``.

    Attributes:
        objective: ``keras_tuner.Objective("val_loss", "min")``.
        hyperparameters: the search space of the arguments above, a
            ``keras_tuner.HyperParameters`` that ``build(hp)`` declares in ``hp``.

    Example:
    >>> import keras_tuner
    >>> hypermodel = StudentHyperModel(n_features=1, n_qubits=[1, 2], n_layers=1,
    ...                                learning_rate=0.05)
    >>> model = hypermodel.build(keras_tuner.HyperParameters())    # the first choices
    >>> models.circuit_summary(model)["qubits"], round(float(model.optimizer.learning_rate), 6)
    (1, 0.05)

    A search (about a minute on two cores):

    ```python
    x = np.random.default_rng(0).uniform(-3, 3, (200, 1)).astype("float32")
    y = np.sin(x)
    tuner = keras_tuner.RandomSearch(hypermodel, objective=hypermodel.objective, max_trials=4,
                                     directory="tuning", project_name="student")
    tuner.search(x[:150], y[:150], validation_data=(x[150:], y[150:]), epochs=10)
    best_model = tuner.get_best_models()[0]
    ```
    """

    model_builder = staticmethod(models.student)
    default_n_qubits = hp_types.Int("n_qubits", 2, 6, default=4)
    default_n_layers = hp_types.Int("n_layers", 1, 4, default=2)


class TeacherHyperModel(CircuitModelHyperModel):
    """Searches the circuit and learning rate of a :func:`tfq_meta.models.teacher` model.

    The same search space and arguments as :class:`StudentHyperModel`, around teacher sizes:
    ``n_qubits`` defaults to ``Int(4, 10)`` starting at 8, ``n_layers`` to ``Int(2, 6)``
    starting at 4. Train the best teacher, then distill it with
    :class:`tfq_meta.tuning.DistillerHyperModel`.

    Attributes:
        objective: ``keras_tuner.Objective("val_loss", "min")``.
        hyperparameters: the search space of the tuned arguments.

    Example:
    >>> import keras_tuner
    >>> hypermodel = TeacherHyperModel(n_features=2, n_outputs=3, task="classification",
    ...                                n_qubits=3, n_layers=[2, 3])
    >>> model = hypermodel.build(keras_tuner.HyperParameters())
    >>> model.name, models.circuit_summary(model)["qubits"]
    ('teacher', 3)
    """

    model_builder = staticmethod(models.teacher)
    default_n_qubits = hp_types.Int("n_qubits", 4, 10, default=8)
    default_n_layers = hp_types.Int("n_layers", 2, 6, default=4)


def _choice_of(allowed):
    def check(value, name):
        return check_choice(value, allowed, name)
    return check


def _check_model_options(options):
    unknown = sorted(set(options) - set(MODEL_OPTIONS))
    if unknown:
        raise TypeError(f"Unknown arguments {unknown}. Fixed model options are "
                        f"{list(MODEL_OPTIONS)}; the tuned dimensions are n_qubits, n_layers, "
                        "encoding, entangler, trainable_scaling and learning_rate.")
    return dict(options)


def _check_compile_options(options):
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise TypeError(f"`compile_options` must be a dict of keras.Model.compile arguments; got "
                        f"{type(options).__name__}.")
    clashing = sorted(set(options) & set(_COMPILE_ARGUMENTS_OF_THE_HYPERMODEL))
    if clashing:
        raise ValueError(f"`compile_options` must not set {clashing}: pass them as the "
                         "hypermodel's own arguments.")
    return dict(options)


def _optimizer_class(optimizer):
    if isinstance(optimizer, type) and issubclass(optimizer, keras.optimizers.Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        try:
            return type(keras.optimizers.get(optimizer))
        except ValueError:
            raise ValueError(f"`optimizer` {optimizer!r} is not the name of a Keras optimizer "
                             "(e.g. 'adam', 'sgd').") from None
    # An instance carries its own learning rate, which would silently override the tuned one.
    raise TypeError("`optimizer` must be a Keras optimizer name (e.g. 'adam') or class (e.g. "
                    f"keras.optimizers.SGD), not {optimizer!r}: each trial creates its optimizer "
                    "with the tuned `learning_rate`.")


def _check_loss(loss):
    """A loss Keras can interpret, found now rather than by every trial's ``fit``."""
    check_loss(loss)
    return loss


def _check_metrics(metrics):
    if isinstance(metrics, dict):  # per output: left to Keras
        return metrics
    for metric in metrics if isinstance(metrics, (list, tuple)) else [metrics]:
        if metric in _COMPILE_METRIC_ALIASES:
            continue
        try:
            keras.metrics.get(metric)
        except (ValueError, TypeError):
            raise ValueError(f"`metrics` must be Keras metrics (names, functions or "
                             f"keras.metrics.Metric); got {metric!r}.") from None
    return metrics


def _default_loss(task):
    if task == "classification":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return "mse"


def _default_metrics(task):
    return ["accuracy"] if task == "classification" else ["mae"]
