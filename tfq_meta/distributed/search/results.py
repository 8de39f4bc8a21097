"""What a distributed search did: its processes' runs, its trials and the best one.

Example::

    result = tfq_meta.distributed.launch("search.py", workers=2)
    print(result.summary())
    # search completed in 41 s: 4 trials (4 COMPLETED) in /home/me/search/student
    # best trial 2: val_loss = 0.0311
    #   learning_rate = 0.1
    # chief: exited 0
    # tuner0: exited 0
    # tuner1: exited 0
"""
import collections
import dataclasses
import math

from tfq_meta.distributed.processes import describe_exit

STATUSES = ("completed", "incomplete", "failed", "timeout")


@dataclasses.dataclass
class ProcessRun:
    """One run of a chief or worker process: its pid and exit code (negative: killed by that
    signal; None: still running when the report was made)."""
    pid: int
    returncode: int = None


@dataclasses.dataclass
class SearchResult:
    """What a distributed search did.

    Attributes:
        status: ``"completed"`` (the chief ended the search), ``"incomplete"`` (trials are left
            but no worker to run them; run again to resume), ``"failed"`` (the chief failed or
            never served the oracle, or every worker died) or ``"timeout"``.
        address: ``host:port`` the chief served the oracle on.
        project_dir: the chief's ``directory/project_name`` (None if it never served).
        objective, direction: the oracle's objective name and ``"min"`` / ``"max"``.
        trials: every trial in the chief's directory, in trial order: dicts with ``trial_id``,
            ``status``, ``score``, ``best_step`` and ``hyperparameters`` (the values).
        best_trial: the completed trial with the best score (None if none completed).
        processes: ``{"chief": [ProcessRun], "tuner0": [ProcessRun, …], …}``, one run per start.
        released: ``{tuner_id: trial_id}``, unfinished trials of dead workers ended as INVALID.
        messages: what the launcher noticed (deaths, restarts, releases, stopped processes).
        duration: seconds from the first start to the last process stopped.
    """
    status: str
    address: str
    project_dir: str = None
    objective: str = None
    direction: str = "min"
    trials: list = dataclasses.field(default_factory=list)
    best_trial: dict = None
    processes: dict = dataclasses.field(default_factory=dict)
    released: dict = dataclasses.field(default_factory=dict)
    messages: list = dataclasses.field(default_factory=list)
    duration: float = 0.0

    @property
    def best_hyperparameters(self):
        """The best trial's hyperparameter values (a dict), or None."""
        return None if self.best_trial is None else self.best_trial["hyperparameters"]

    def to_dict(self):
        return dataclasses.asdict(self)

    def summary(self):
        """A few lines for people: the outcome, the trial counts and the best trial."""
        lines = [f"search {self.status} in {self.duration:.0f} s"]
        if self.project_dir is not None:
            counts = collections.Counter(t["status"] for t in self.trials)
            lines[0] += (f": {len(self.trials)} trials ("
                         + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                         + f") in {self.project_dir}")
        if self.best_trial is not None:
            lines.append(f"best trial {self.best_trial['trial_id']}: {self.objective} = "
                         f"{self.best_trial['score']:.6g}")
            lines += [f"  {name} = {value}" for name, value in self.best_hyperparameters.items()]
        for name, runs in self.processes.items():
            lines.append(f"{name}: " + ", ".join(describe_exit(run.returncode) for run in runs))
        return "\n".join(lines)


def best_trial(trials, direction):
    """The COMPLETED trial with the best numeric score (``direction`` ``"min"`` or ``"max"``),
    or None; of equal scores the first, as keras-tuner's stable sort keeps it."""
    completed = [t for t in trials if t["status"] == "COMPLETED" and _is_number(t["score"])]
    if not completed:
        return None
    sign = -1 if direction == "max" else 1
    return min(completed, key=lambda t: sign * t["score"])


def _is_number(value):
    return isinstance(value, (int, float)) and not math.isnan(value)
