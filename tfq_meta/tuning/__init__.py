"""keras-tuner hypermodels for PQC models, meta-learning and distillation.

Each hypermodel is a ``keras_tuner.HyperModel`` for the stock tuners (``RandomSearch``,
``BayesianOptimization``, ``Hyperband`` …); ``build(hp)`` returns a compiled model. Give the
tuner the hypermodel's ``objective``:

=========================  ==================================================================
hypermodel                 ``objective``
=========================  ==================================================================
``StudentHyperModel``      ``val_loss``: the loss on ``validation_data``
``TeacherHyperModel``      ``val_loss``
``MetaLearnerHyperModel``  ``val_loss``: the query loss after adaptation on the validation
                           episodes
``DistillerHyperModel``    ``val_student_loss``: the student's loss on the validation labels
                           (the Distiller's ``val_loss`` mixes in the distillation loss, whose
                           scale changes with the temperature and the loss weight)
=========================  ==================================================================

Every tuned argument takes ``None`` (a default space), a fixed value, a list of choices, or a
keras-tuner hyperparameter (``keras_tuner.engine.hyperparameters.Int(…)``, ``Float``, …); the
hypermodel's ``hyperparameters`` holds the resulting space. ``MetaLearnerHyperModel`` and
``DistillerHyperModel`` take the hypermodel of their model or student, whose search space joins
theirs.

The tuner's own ``hyperparameters=`` work as for any keras-tuner hypermodel: an entry declared
there takes the place of the hypermodel's entry of the same name, whatever the hypermodel's
argument, and with ``tune_new_entries=False`` every entry it does not hold keeps its default (a
fixed value, the first choice, a range's default). To search the qubits of a student whose
depth is fixed at 2, everything else at its default:

```python
hp = keras_tuner.HyperParameters()
hp.Fixed("n_layers", 2)
hp.Choice("n_qubits", [2, 4])
tuner = keras_tuner.RandomSearch(StudentHyperModel(n_features=1), objective="val_loss",
                                 hyperparameters=hp, tune_new_entries=False, max_trials=2)
```

Such entries are not checked in advance: a value no model can take fails its trial.

A trial whose values cannot build a model (e.g. a circuit too large for memory) ends FAILED
with the reason in ``trial.message`` and the search goes on; keras-tuner stops a search after
``max_consecutive_failed_trials`` (default 3) failures in a row. A search resumes from its
``directory`` and ``project_name`` (``overwrite=False``, the default): finished trials are
kept and the trial that was running is run again.
"""
from tfq_meta.tuning.circuit_models import StudentHyperModel, TeacherHyperModel
from tfq_meta.tuning.distiller import DistillerHyperModel
from tfq_meta.tuning.meta_learner import MetaLearnerHyperModel

__all__ = ["DistillerHyperModel", "MetaLearnerHyperModel", "StudentHyperModel",
           "TeacherHyperModel"]
