"""Distributed hyperparameter search with keras-tuner's chief/worker mode.

keras-tuner runs one search in several processes, on one machine or many: a *chief* serves the
oracle (which trials to run, and their results) over gRPC, and *workers* train the trials. Every
process runs the same search script; the environment gives it its role:

- ``KERASTUNER_TUNER_ID``: ``chief`` for the oracle, a unique id for each worker (``tuner0`` …);
- ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT``: where the chief serves the oracle.

:func:`launch` (or ``python -m tfq_meta.distributed --workers N script.py``) starts a chief and N
workers on this machine, restarts workers that die, and reports the best trial. The gRPC packages
come with ``pip install "tfq_meta[distributed]"``.
"""
from tfq_meta.distributed.search import ProcessRun, SearchResult, is_chief, launch, main

__all__ = ["ProcessRun", "SearchResult", "is_chief", "launch", "main"]
