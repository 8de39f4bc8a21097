"""Few-shot task families that produce meta-learning episodes.

An *episode* is a meta-batch of tasks: a dict with ``support_x``, ``support_y``, ``query_x`` and
``query_y``, each shaped ``[tasks, shots, ...]``. The inner loop adapts to each task on its support
set; the query set measures the adapted model. Every family samples reproducibly from a seed and
gives a ``tf.data.Dataset`` of episodes for :meth:`tfq_meta.MetaLearner.fit`.

Quantum task families (:class:`HamiltonianFamily`: :class:`XXZChain`,
:class:`TransverseFieldIsing`, :class:`MaxCut`) give each task as a Hamiltonian: ``x`` what the
model reads of it, ``y`` its coefficients over the family's Pauli terms, for the
:class:`tfq_meta.Energy` loss.
"""
from tfq_meta.tasks.classification import FewShotClassification, digits
from tfq_meta.tasks.episodes import EPISODE_KEYS, check_episode
from tfq_meta.tasks.family import FunctionTasks, TaskFamily
from tfq_meta.tasks.hamiltonian_family import HamiltonianFamily
from tfq_meta.tasks.maxcut import MaxCut
from tfq_meta.tasks.sinusoid import Sinusoid
from tfq_meta.tasks.spin_chains import TransverseFieldIsing, XXZChain

__all__ = ["EPISODE_KEYS", "FewShotClassification", "FunctionTasks", "HamiltonianFamily", "MaxCut",
           "Sinusoid", "TaskFamily", "TransverseFieldIsing", "XXZChain", "check_episode",
           "digits"]
