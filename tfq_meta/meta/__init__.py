"""Meta-learning: the MetaLearner model and the functional helpers of its loops."""
from tfq_meta.meta.functional import task_batched_call
from tfq_meta.meta.algorithms import ALGORITHMS
from tfq_meta.meta.meta_learner import MetaLearner
from tfq_meta.meta.updates import inner_update, reptile_gradients

__all__ = ["ALGORITHMS", "MetaLearner", "inner_update", "reptile_gradients", "task_batched_call"]
