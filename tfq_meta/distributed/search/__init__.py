"""Distributed hyperparameter search with keras-tuner's chief/worker mode, on one machine.

Modules: ``launcher`` (:func:`launch`: start, supervise and stop the processes), ``results``
(:class:`SearchResult`), ``oracle`` (the chief's oracle as the launcher sees it),
``tuner_process`` (one chief or worker process), ``environment`` (the roles' variables,
:func:`is_chief`), ``cli`` (``python -m tfq_meta.distributed``) and ``bootstrap`` (what runs first
in every process).

Example::

    from tfq_meta.distributed.search import launch
    print(launch("examples/distributed_search.py", workers=2).summary())
"""
from tfq_meta.distributed.search.cli import main
from tfq_meta.distributed.search.environment import is_chief
from tfq_meta.distributed.search.launcher import launch
from tfq_meta.distributed.search.results import ProcessRun, SearchResult

__all__ = ["ProcessRun", "SearchResult", "is_chief", "launch", "main"]
