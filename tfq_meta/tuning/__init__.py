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
keras-tuner hyperparameter (``keras_tuner.engine.hyperparameters.Int(…)``, ``Float``, …).
``MetaLearnerHyperModel`` and ``DistillerHyperModel`` take the hypermodel of their model or
student, whose search space joins theirs.

A trial whose values cannot build a model (e.g. a circuit too large for memory) ends FAILED
with the reason in ``trial.message`` and the search goes on; keras-tuner stops a search after
``max_consecutive_failed_trials`` (default 3) failures in a row. A search resumes from its
``directory`` and ``project_name`` (``overwrite=False``, the default): finished trials are
kept and the trial that was running is run again.
"""
from tfq_meta.tuning.distiller import DistillerHyperModel
from tfq_meta.tuning.meta_learner import MetaLearnerHyperModel
from tfq_meta.tuning.student import StudentHyperModel
from tfq_meta.tuning.teacher import TeacherHyperModel

__all__ = ["DistillerHyperModel", "MetaLearnerHyperModel", "StudentHyperModel",
           "TeacherHyperModel"]
