"""The command line runs a search script or module with its arguments and reports as JSON.

The scripts are plain Python (no TensorFlow, no oracle): each process records its argv, so the
oracle is what every process was started with; the chief never serves an oracle, which the
launcher reports as a failed search.
"""
import json

import pytest

from search_scripts import PLAIN_SCRIPT, records
from tfq_meta.distributed import main
from tfq_meta.distributed.search.cli import parser


@pytest.mark.timeout(60)
def test_command_line_runs_scripts_and_modules_with_their_arguments(tmp_path, monkeypatch,
                                                                    capsys):
    (tmp_path / "plain.py").write_text(PLAIN_SCRIPT)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODE", "exit")
    monkeypatch.setenv("PROCESSES", "2")
    # Every process exits at once: the chief never serves an oracle, which is a failure.
    assert main(["--workers", "1", "--timeout", "30", "--quiet", "--json", "result.json",
                 "plain.py", "--epochs", "3"]) == 1
    started = records(tmp_path)
    assert started["chief"]["argv"] == started["tuner0"]["argv"] == \
        [str(tmp_path / "plain.py"), "--epochs", "3"]
    report = json.loads((tmp_path / "result.json").read_text())
    assert report["status"] == "failed"
    assert report["processes"]["chief"][0]["returncode"] == 0
    printed = capsys.readouterr().out
    assert "[launcher] the chief exited without serving the oracle" in printed
    assert "[chief]" not in printed                              # --quiet

    for path in tmp_path.glob("*-*.json"):
        path.unlink()
    monkeypatch.setenv("PROCESSES", "3")
    assert main(["--workers", "2", "--timeout", "30", "--quiet", "-m", "plain", "-x"]) == 1
    started = records(tmp_path)
    assert sorted(started) == ["chief", "tuner0", "tuner1"]
    assert all(r["argv"] == [str(tmp_path / "plain.py"), "-x"] for r in started.values())


def test_command_line_defaults_match_the_readme():
    options = parser().parse_args(["search.py"])
    assert (options.workers, options.host, options.port, options.max_restarts) == \
        (2, "127.0.0.1", 0, 1)
    assert options.timeout is None and options.json is None and not options.quiet
