"""Knowledge distillation: a frozen teacher's outputs transferred into a smaller student.

``Distiller`` trains the student with ``fit``; the losses compare class logits
(``LogitsDistillation``), expectation values (``ExpectationDistillation``) or chosen observables
of both circuits (``ObservableDistillation``).
"""
from tfq_meta.distillation.distiller import Distiller
from tfq_meta.distillation.losses import ExpectationDistillation, LogitsDistillation
from tfq_meta.distillation.observable_matching import ObservableDistillation

__all__ = ["Distiller", "ExpectationDistillation", "LogitsDistillation", "ObservableDistillation"]
