"""StudentHyperModel: keras-tuner search space of a student PQC model."""
from keras_tuner.engine import hyperparameters as hp_types

from tfq_meta import models
from tfq_meta.tuning._circuit_model import CircuitModelHyperModel


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
