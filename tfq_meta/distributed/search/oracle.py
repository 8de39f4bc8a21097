"""The launcher's view of the chief's oracle: its report, its files, gRPC calls for dead workers.

The chief reports its project directory and whether the search has ended in a small JSON file
(written by the bootstrap); the oracle's own state is read from that directory; and a dead
worker's unfinished trial is ended, and the dead worker signed off, by speaking to the oracle over
gRPC as that worker. Everything that touches keras-tuner's private files or messages goes through
``tfq_meta._compat.keras_tuner``.

Example::

    view = OracleView("127.0.0.1", 8000, "/tmp/tfq_meta_search_x/chief.json")
    view.refresh()
    view.unfinished_trial("tuner1")
    # '3'
"""
from tfq_meta._compat import keras_tuner as tuner_compat


class OracleView:
    """What the launcher knows of the chief's oracle served on ``host:port``.

    Args:
        host, port: where the chief serves the oracle.
        info_path: the file the chief's bootstrap writes its report to.
    """

    def __init__(self, host, port, info_path):
        self.host, self.port, self.info_path = host, port, info_path
        self.info = None  # the chief's last report

    def refresh(self):
        """Reads the chief's report again, until it says the search has ended."""
        if not self.search_ended():
            self.info = tuner_compat.read_json(self.info_path) or self.info

    def search_ended(self):
        return self.info is not None and self.info["ended"]

    def unfinished_trial(self, tuner_id):
        """The id of the trial the oracle has running on ``tuner_id``, or None."""
        if self.info is None:
            return None
        return tuner_compat.unfinished_trial_id(self.info["project_dir"], tuner_id)

    def end_running_trial(self, tuner_id):
        """Ends the dead ``tuner_id``'s running trial as INVALID, so the oracle retries or fails
        it. Returns the trial's id.

        Raises:
            grpc.RpcError: e.g. the oracle's failure limit was reached.
        """
        with tuner_compat.OracleClient(self.host, self.port) as client:
            trial = client.create_trial(tuner_id)  # its running trial, as the oracle has it
            client.end_trial_as_invalid(trial)
        return trial.trial_id

    def sign_off(self, tuner_ids):
        """Asks the oracle for a trial as each dead worker, which it answers with STOPPED once the
        search has no more work for it; the chief ends the search once every tuner id that ever
        asked for a trial has been told to stop.

        Returns:
            None if every one was signed off, else ``(tuner_id, trial_id)`` of a trial the oracle
            handed to one of them (no live worker is left to run it).

        Raises:
            grpc.RpcError: the oracle did not answer.
        """
        with tuner_compat.OracleClient(self.host, self.port) as client:
            for tuner_id in tuner_ids:
                trial = client.create_trial(tuner_id)
                if not client.is_stopped(trial):
                    return tuner_id, trial.trial_id
        return None

    def trials(self):
        """Every trial in the chief's project directory (see
        ``tfq_meta._compat.keras_tuner.read_trial_files``)."""
        return [] if self.info is None else tuner_compat.read_trial_files(self.info["project_dir"])
