"""is_chief reads keras-tuner's role variables; role_environment writes them."""
from tfq_meta.distributed import is_chief
from tfq_meta.distributed.search.environment import role_environment, worker_names


def test_is_chief_follows_keras_tuner_environment(monkeypatch):
    for name in ("KERASTUNER_ORACLE_IP", "KERASTUNER_TUNER_ID"):
        monkeypatch.delenv(name, raising=False)
    assert is_chief()                                          # not distributed
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    assert is_chief()
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner3")
    assert not is_chief()




def test_role_environment_gives_each_process_its_keras_tuner_variables(monkeypatch):
    assert worker_names(3) == ["tuner0", "tuner1", "tuner2"]
    for name, chief in (("chief", True), ("tuner1", False)):
        for variable, value in role_environment(name, "10.0.0.1", 8000).items():
            monkeypatch.setenv(variable, value)
        assert is_chief() is chief
    assert role_environment("tuner1", "10.0.0.1", 8000) == {
        "KERASTUNER_TUNER_ID": "tuner1", "KERASTUNER_ORACLE_IP": "10.0.0.1",
        "KERASTUNER_ORACLE_PORT": "8000"}
