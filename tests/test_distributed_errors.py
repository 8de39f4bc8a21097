"""Bad options and arguments of the distributed launchers fail before any process starts: the
command line with an argparse error naming the option (exit status 2), the functions with a
ValueError/TypeError naming the argument."""
import socket
import sys

import pytest

from tfq_meta.distributed import launch, local_tf_configs, main, processes, run_workers

PYTHON = [sys.executable, "-c", "pass"]


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "search.py"
    path.write_text("raise SystemExit('never started')\n")
    return path


@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def command_line_error(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("option, value, message", [
    ("--timeout", "0", "argument --timeout: must be a positive number of seconds; got '0'"),
    ("--timeout", "-5", "argument --timeout: must be a positive number of seconds; got '-5'"),
    ("--timeout", "nan", "argument --timeout: must be a positive number of seconds; got 'nan'"),
    ("--timeout", "inf", "argument --timeout: must be a positive number of seconds; got 'inf'"),
    ("--host", "999.1.1.1", "argument --host: must be an address of this machine (e.g. "
                            "127.0.0.1 or localhost); got '999.1.1.1': "),
    ("--host", "8.8.8.8", "argument --host: must be an address of this machine"),
    ("--port", "70000", "argument --port: must be a TCP port in 1 … 65535 (0: a free one); "
                        "got '70000'"),
    ("--port", "-1", "argument --port: must be a TCP port in 1 … 65535"),
    ("--workers", "0", "argument --workers: must be an int >= 1; got '0'"),
    ("--workers", "1.5", "argument --workers: must be an int >= 1; got '1.5'"),
    ("--max-restarts", "-1", "argument --max-restarts: must be an int >= 0; got '-1'"),
    ("--log-dir", "/proc/no/such/dir", "argument --log-dir: must be a directory this process "
                                       "can create; '/proc/no/such/dir' cannot be"),
    ("--json", "/no/such/dir/result.json", "argument --json: must be a file path in an "
                                           "existing, writable directory"),
])
def test_bad_command_line_options(capsys, script, option, value, message):
    assert message in command_line_error(capsys, [option, value, str(script)])


def test_command_line_json_that_is_a_directory(capsys, script, tmp_path):
    assert f"argument --json: must be a file path in an existing, writable directory; got " \
        f"'{tmp_path}'" in command_line_error(capsys, ["--json", str(tmp_path), str(script)])


def test_command_line_port_in_use(capsys, script, busy_port):
    assert f"argument --port: {busy_port} cannot be listened on at 127.0.0.1: Address already " \
        "in use" in command_line_error(capsys, ["--port", str(busy_port), str(script)])


def test_command_line_missing_script(capsys, tmp_path):
    assert "argument script: no file" in command_line_error(capsys, [str(tmp_path / "x.py")])


@pytest.mark.parametrize("arguments, error, match", [
    (dict(host="999.1.1.1"), ValueError,
     "`host` must be an address of this machine .*got '999.1.1.1'"),
    (dict(host=""), ValueError, "`host` must be an address of this machine"),
    (dict(host=5), ValueError, "`host` must be an address of this machine .*got 5"),
    (dict(port=70000), ValueError, r"`port` must be a TCP port, an int in 1 … 65535; got 70000"),
    (dict(port=0), ValueError, "`port` must be a TCP port"),
    (dict(port="80"), ValueError, "`port` must be a TCP port"),
    (dict(args="--epochs 3"), TypeError, "`args` must be a list of strings"),
    (dict(args=[3]), TypeError, "`args` must be a list of strings"),
    (dict(env={"A": 1}), TypeError, "`env` must be None or a mapping of str to str"),
    (dict(cwd="/no/such/dir"), ValueError, "`cwd` must be an existing directory"),
    (dict(log_dir="/proc/no/such/dir"), ValueError, "`log_dir` must be a directory this "
                                                    "process can create"),
    (dict(output=3), TypeError, r"`output` must be a text stream \(with .write\) or None"),
    (dict(module="yes"), ValueError, "`module` must be True or False; got 'yes'"),
    (dict(script=3), TypeError, r"`script` must be a path \(str or pathlib.Path\), or with "
                                "module=True a module name"),
    (dict(script=None, module=True), TypeError, "`script` must be a path .*got None"),
])
def test_bad_launch_arguments(script, arguments, error, match):
    arguments = {"script": script, **arguments}
    with pytest.raises(error, match=match):
        launch(**arguments)


def test_launch_on_a_busy_port(script, busy_port):
    with pytest.raises(ValueError, match=f"`port` {busy_port} cannot be listened on at "
                                         "127.0.0.1: Address already in use"):
        launch(script, port=busy_port)


@pytest.mark.parametrize("arguments, error, match", [
    (dict(command="python train.py"), TypeError, "`command` must be a non-empty list of strings"),
    (dict(command=[]), TypeError, "`command` must be a non-empty list of strings"),
    (dict(command=[sys.executable, 3]), TypeError, "`command` must be a list of strings"),
    (dict(n_workers=0), ValueError, "`n_workers` must be a positive int; got 0"),
    (dict(timeout=None), ValueError, "`timeout` must be a positive finite number of seconds; got "
                                     "None: a worker whose peer hangs"),
    (dict(timeout=0), ValueError, "`timeout` must be a positive finite number; got 0"),
    (dict(cwd="/no/such/dir"), ValueError, "`cwd` must be an existing directory"),
    (dict(env=["A=1"]), TypeError, "`env` must be None or a mapping of str to str"),
    (dict(check="yes"), ValueError, "`check` must be True or False; got 'yes'"),
])
def test_bad_run_workers_arguments(arguments, error, match):
    arguments = {"command": PYTHON, "n_workers": 1, "timeout": 30, **arguments}
    with pytest.raises(error, match=match):
        run_workers(**arguments)


@pytest.mark.parametrize("make", [lambda: local_tf_configs(2, host="999.1.1.1"),
                                  lambda: processes.free_ports(1, host="999.1.1.1")])
def test_unknown_host_for_ports(make):
    with pytest.raises(ValueError, match="`host` must be an address of this machine"):
        make()
