"""TeacherHyperModel: keras-tuner search space of a teacher PQC model."""
from keras_tuner.engine import hyperparameters as hp_types

from tfq_meta import models
from tfq_meta.tuning._circuit_model import CircuitModelHyperModel


class TeacherHyperModel(CircuitModelHyperModel):
    """Searches the circuit and learning rate of a :func:`tfq_meta.models.teacher` model.

    The same search space and arguments as :class:`tfq_meta.tuning.StudentHyperModel`, around
    teacher sizes: ``n_qubits`` defaults to ``Int(4, 10)`` starting at 8, ``n_layers`` to
    ``Int(2, 6)`` starting at 4. Train the best teacher, then distill it with
    :class:`tfq_meta.tuning.DistillerHyperModel`.

    Attributes:
        objective: ``keras_tuner.Objective("val_loss", "min")``.

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
