"""SearchResult reports a search for people; best_trial picks as keras-tuner does."""
import math

from tfq_meta.distributed import SearchResult
from tfq_meta.distributed.search.results import ProcessRun, best_trial


def test_summary_names_the_best_trial():
    best = {"trial_id": "2", "status": "COMPLETED", "score": 0.125, "best_step": 1,
            "hyperparameters": {"learning_rate": 0.1}}
    result = SearchResult("completed", "127.0.0.1:1", "/tmp/p", "val_loss", "min",
                          trials=[dict(best, trial_id="1", score=0.5), best], best_trial=best,
                          duration=12.3)
    assert result.summary().splitlines() == [
        "search completed in 12 s: 2 trials (2 COMPLETED) in /tmp/p",
        "best trial 2: val_loss = 0.125", "  learning_rate = 0.1"]


def test_summary_lists_every_process_run():
    result = SearchResult("incomplete", "127.0.0.1:1",
                          processes={"chief": [ProcessRun(10, None)],
                                     "tuner0": [ProcessRun(11, -9), ProcessRun(12, 3)]})
    assert result.summary().splitlines()[1:] == ["chief: running",
                                                 "tuner0: killed by SIGKILL, exited 3"]


def test_best_trial_skips_unfinished_and_unscored_trials_and_follows_the_direction():
    def trial(trial_id, status, score):
        return {"trial_id": trial_id, "status": status, "score": score}

    trials = [trial("0", "COMPLETED", 0.5), trial("1", "RUNNING", 0.1),
              trial("2", "COMPLETED", math.nan), trial("3", "FAILED", None),
              trial("4", "COMPLETED", 0.2), trial("5", "COMPLETED", 0.2),
              trial("6", "COMPLETED", 0.9)]
    assert best_trial(trials, "min")["trial_id"] == "4"    # the first of equal scores
    assert best_trial(trials, "max")["trial_id"] == "6"
    assert best_trial(trials[1:4], "min") is None
