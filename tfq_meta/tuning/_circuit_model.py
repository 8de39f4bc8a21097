"""The search space of a PQC model, shared by StudentHyperModel and TeacherHyperModel."""
import keras
import keras_tuner
from keras_tuner.engine import hyperparameters as hp_types

from tfq_meta import models
from tfq_meta._validation import check_choice, check_positive_float, check_positive_int
from tfq_meta.circuits import ENTANGLERS, ROTATIONS
from tfq_meta.tuning._space import Dimension, check_bool, failed_trial_on_invalid_model

# Fixed options passed on to tfq_meta.models.student / teacher (see their docstrings).
MODEL_OPTIONS = ("rotations", "engine", "differentiator", "repetitions", "noise", "trajectories",
                 "state_dtype")
_COMPILE_ARGUMENTS_OF_THE_HYPERMODEL = ("optimizer", "loss", "metrics")


class CircuitModelHyperModel(keras_tuner.HyperModel):
    """A functional PQC model (projection → re-uploading circuit → Dense) with a tuned circuit.

    Subclasses set ``model_builder`` (:func:`tfq_meta.models.student` or ``teacher``) and the
    default ranges of ``n_qubits`` and ``n_layers``. The arguments are documented in
    :class:`tfq_meta.tuning.StudentHyperModel`.
    """

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
        self.dimensions = {
            "n_qubits": Dimension("n_qubits", n_qubits, self.default_n_qubits,
                                  check_positive_int),
            "n_layers": Dimension("n_layers", n_layers, self.default_n_layers,
                                  check_positive_int),
            "encoding": Dimension("encoding", encoding,
                                  hp_types.Choice("encoding", list(ROTATIONS)),
                                  _choice_of(ROTATIONS)),
            "entangler": Dimension("entangler", entangler,
                                   hp_types.Choice("entangler", list(ENTANGLERS)),
                                   _choice_of(ENTANGLERS)),
            "trainable_scaling": Dimension("trainable_scaling", trainable_scaling,
                                           hp_types.Boolean("trainable_scaling", default=True),
                                           check_bool),
        }
        self.learning_rate = Dimension(
            "learning_rate", learning_rate,
            hp_types.Float("learning_rate", 1e-3, 1e-1, sampling="log", default=1e-2),
            check_positive_float)
        self.optimizer = _optimizer_class(optimizer)
        self.loss = loss if loss is not None else _default_loss(task)
        self.metrics = metrics if metrics is not None else _default_metrics(task)
        self.compile_options = _check_compile_options(compile_options)

    @property
    def objective(self):
        """The objective to give the tuner: ``val_loss``, the loss on ``validation_data``."""
        return keras_tuner.Objective("val_loss", direction="min")

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
        """Declares the circuit's dimensions in ``hp`` and builds the uncompiled model."""
        architecture = {name: dimension(hp) for name, dimension in self.dimensions.items()}
        with failed_trial_on_invalid_model(hp):
            return self.model_builder(self.n_features, self.n_outputs, self.task,
                                      **architecture, **self.model_options)

    def build_optimizer(self, hp):
        """Declares ``learning_rate`` in ``hp`` and returns a fresh optimizer with it."""
        return self.optimizer(learning_rate=self.learning_rate(hp))


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


def _default_loss(task):
    if task == "classification":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return "mse"


def _default_metrics(task):
    return ["accuracy"] if task == "classification" else ["mae"]
