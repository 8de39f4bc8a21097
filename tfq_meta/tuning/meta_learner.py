"""MetaLearnerHyperModel: keras-tuner search space of meta-learning with a MetaLearner."""
import keras_tuner
from keras_tuner.engine import hyperparameters as hp_types

from tfq_meta._validation import check_choice, check_positive_float, check_positive_int
from tfq_meta.meta import ALGORITHMS, MetaLearner
from tfq_meta.meta.algorithms import check_head
from tfq_meta.tuning._space import (build_function, build_wrapped_model, declare,
                                    failed_trial_on_invalid_model, search_space)


class MetaLearnerHyperModel(keras_tuner.HyperModel):
    """Searches the algorithm and inner loop of a :class:`tfq_meta.MetaLearner` and its model.

    Each trial builds the model of ``model`` (a hypermodel: its search space joins this one),
    wraps it in ``MetaLearner(model, algorithm, inner_steps, inner_lr)`` and compiles the
    MetaLearner with the model's compile arguments. The model's optimizer, with its tuned
    ``learning_rate``, becomes the **outer-loop** optimizer (in meta-learning, the optimizer
    that trains the model's weights is the outer loop's); its loss drives both loops and its
    metrics are logged after and before adaptation.

    Search with episodes, as for ``MetaLearner.fit``: ``tuner.search(family.episodes(…),
    steps_per_epoch=…, epochs=…, validation_data=family.episodes(…, n_episodes=…))``. Use
    ``objective=hypermodel.objective``: ``"val_loss"``, the query loss **after adaptation**
    on the validation episodes, which is what meta-learning optimizes (``val_pre_adapt_loss``
    measures the initialization without adaptation). Draw validation episodes from tasks, or
    classes, held out from meta-training (``FewShotClassification.split``).

    Tuned arguments take ``None`` (the default space), a fixed value, a list of choices or a
    keras-tuner hyperparameter, as in :class:`tfq_meta.tuning.StudentHyperModel`.

    Args:
        model: a hypermodel whose ``build(hp)`` returns a compiled, built ``keras.Model``, e.g.
            ``StudentHyperModel(n_features=1, n_qubits=[2, 4])`` (circuit width, depth,
            encoding, entangler and the outer learning rate), or a function ``hp -> model``.
        algorithm: from :data:`tfq_meta.meta.ALGORITHMS`; default all of ``"maml"``,
            ``"fomaml"``, ``"reptile"``, ``"metasgd"``, ``"anil"``.
        inner_steps: gradient steps of the inner loop; default ``Int(1, 5)``, starting at 1.
        inner_lr: step size of the inner loop; default ``Float(0.01, 1.0, sampling="log")``,
            starting at 0.1.
        head: for ``"anil"`` trials, the layers adapted in the inner loop (default: the last
            weighted layer); ignored in trials of other algorithms.
        name, tunable: as for ``keras_tuner.HyperModel``.

    Attributes:
        objective: ``keras_tuner.Objective("val_loss", "min")``.
        hyperparameters: the search space of ``algorithm``, ``inner_steps`` and ``inner_lr``, a
            ``keras_tuner.HyperParameters`` that ``build(hp)`` declares after the model's.

    Example:
    >>> import keras_tuner
    >>> from tfq_meta.tuning import StudentHyperModel
    >>> hypermodel = MetaLearnerHyperModel(
    ...     StudentHyperModel(n_features=1, n_qubits=2, n_layers=1, learning_rate=0.01),
    ...     algorithm=["fomaml", "maml"], inner_steps=2, inner_lr=[0.3, 0.1])
    >>> meta = hypermodel.build(keras_tuner.HyperParameters())
    >>> meta.algorithm, meta.inner_steps, meta.inner_lr
    ('fomaml', 2, 0.3)
    >>> round(float(meta.optimizer.learning_rate), 6)    # the outer loop's
    0.01

    A search:

    ```python
    family = tfq_meta.tasks.Sinusoid(shots=10)
    tuner = keras_tuner.Hyperband(hypermodel, objective=hypermodel.objective, max_epochs=9,
                                  directory="tuning", project_name="meta")
    tuner.search(family.episodes(meta_batch_size=8, seed=0), steps_per_epoch=50,
                 validation_data=family.episodes(8, seed=1, n_episodes=10))
    ```
    """

    # The objective to give the tuner: the query loss after adaptation.
    objective = keras_tuner.Objective("val_loss", direction="min")

    def __init__(self, model, algorithm=None, inner_steps=None, inner_lr=None, head=None,
                 name=None, tunable=True):
        super().__init__(name=name, tunable=tunable)
        self.model = model
        self._build_model = build_function(model, "model")
        self.head = check_head(head)
        self.hyperparameters = search_space(
            (algorithm, hp_types.Choice("algorithm", list(ALGORITHMS)),
             lambda value, name: check_choice(value, ALGORITHMS, name)),
            (inner_steps, hp_types.Int("inner_steps", 1, 5, default=1), check_positive_int),
            (inner_lr, hp_types.Float("inner_lr", 0.01, 1.0, sampling="log", default=0.1),
             check_positive_float))
        _check_head_has_anil(head, self.hyperparameters)

    def build(self, hp):
        """Builds and compiles the MetaLearner of this trial."""
        model, compiled_with = build_wrapped_model(self._build_model, hp, "model")
        meta_options = declare(hp, self.hyperparameters)
        if meta_options["algorithm"] == "anil":
            meta_options["head"] = self.head
        with failed_trial_on_invalid_model(hp):
            meta = MetaLearner(model, **meta_options)
        meta.compile(**compiled_with)
        return meta


def _check_head_has_anil(head, space):
    """``head`` is only used by ANIL trials: refuse it when the space can draw none."""
    algorithms = next(h.values for h in space.space if h.name == "algorithm")
    if head is not None and "anil" not in algorithms:
        raise ValueError(f"`head` only applies to algorithm='anil' trials, which `algorithm` "
                         f"{list(algorithms)} does not include: add 'anil' or leave `head` None.")
