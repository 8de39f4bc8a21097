"""Saves that never lose the previous file: ``tfq_meta.save_model`` and ``saving.Checkpoint``.

Keras' own ``model.save`` truncates the file in place; here a write that fails or is killed
midway must leave the previous checkpoint loadable, with its own weights (the oracle: each
save writes weights set to a known constant).
"""
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pytest

import tfq_meta
from tfq_meta import saving


def student():
    return tfq_meta.models.student(n_features=1, n_qubits=2, n_layers=1)


def set_all(model, value):
    model.set_weights([np.full(w.shape, value, w.dtype) for w in model.get_weights()])
    return model


def constant_of(weights):
    values = np.unique(np.concatenate([w.ravel() for w in weights]))
    assert len(values) == 1, values
    return float(values[0])


@pytest.fixture(scope="module")
def model():
    return student()


@pytest.mark.parametrize("name, load", [
    ("student.keras", lambda path, _: keras.models.load_model(path).get_weights()),
    ("student.weights.h5", lambda path, model: (model.load_weights(path), model.get_weights())[1]),
])
def test_save_round_trips_and_a_failed_save_keeps_the_previous_file(tmp_path, model, name, load,
                                                                     monkeypatch):
    path = tmp_path / name
    assert tfq_meta.save_model(set_all(model, 0.25), path) == path
    assert constant_of(load(path, model)) == 0.25

    def write_half_then_fail(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as file:
            file.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save", write_half_then_fail)
    monkeypatch.setattr(keras.Model, "save_weights", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        tfq_meta.save_model(set_all(model, 0.75), path)
    monkeypatch.undo()
    assert constant_of(load(path, set_all(model, 0.0))) == 0.25
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]   # no temporary left behind


@pytest.mark.parametrize("arguments, error, match", [
    (dict(model="not a model"), TypeError, "`model` must be a keras.Model; got str"),
    (dict(filepath="student.h5"), ValueError,
     r"`filepath` must end in '.keras' \(the whole model\) or '.weights.h5'.*'student.h5'"),
    (dict(filepath=".keras"), ValueError, "`filepath` must end in '.keras'"),
    (dict(filepath=3), TypeError, "`filepath` must be a path .*got 3"),
    (dict(overwrite="yes"), ValueError, "`overwrite` must be True or False; got 'yes'"),
])
def test_bad_save_arguments(tmp_path, model, arguments, error, match):
    arguments = {"model": model, "filepath": str(tmp_path / "m.keras"), **arguments}
    with pytest.raises(error, match=match):
        tfq_meta.save_model(**arguments)
    assert not any(tmp_path.iterdir())


def test_save_refuses_a_directory_and_existing_files_without_overwrite(tmp_path, model):
    (tmp_path / "dir.keras").mkdir()
    with pytest.raises(ValueError, match="`filepath` .*dir.keras' is a directory"):
        tfq_meta.save_model(model, tmp_path / "dir.keras")
    (tmp_path / "m.keras").write_text("mine")
    with pytest.raises(FileExistsError, match="`filepath` .*m.keras' already exists; pass "
                                              "overwrite=True"):
        tfq_meta.save_model(model, tmp_path / "m.keras", overwrite=False)
    assert (tmp_path / "m.keras").read_text() == "mine"


def test_written_files_and_directories_get_the_usual_permissions(tmp_path, model):
    umask = os.umask(0o022)
    try:
        path = tfq_meta.save_model(model, tmp_path / "m.weights.h5")
        directory = saving.write_atomically(lambda d: (Path(d) / "f").write_text("x"),
                                            tmp_path / "export", directory=True)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755
    assert (directory / "f").read_text() == "x"


def test_checkpoint_callback_saves_every_n_batches_atomically(tmp_path):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, y = np.ones((8, 1), np.float32), np.zeros((8, 1), np.float32)
    pattern = str(tmp_path / "ckpt-{epoch}.weights.h5")
    model.fit(x, y, batch_size=2, epochs=2, verbose=0,
              callbacks=[saving.Checkpoint(pattern, save_freq=4)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-1.weights.h5",
                                                          "ckpt-2.weights.h5"]
    reloaded = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    reloaded.load_weights(tmp_path / "ckpt-2.weights.h5")
    for a, b in zip(reloaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("arguments, error, match", [
    (dict(filepath="ckpt.h5"), ValueError, "`filepath` must end in '.keras'"),
    (dict(save_freq=0), ValueError, "`save_freq` must be 'epoch' or a positive int .*got 0"),
    (dict(save_freq="batch"), ValueError, "`save_freq` must be 'epoch' or a positive int"),
])
def test_bad_checkpoint_arguments(arguments, error, match):
    with pytest.raises(error, match=match):
        saving.Checkpoint(**{"filepath": "ckpt.keras", **arguments})


def test_checkpoint_filepath_naming_an_unlogged_value(tmp_path):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    callback = saving.Checkpoint(str(tmp_path / "{accuracy}.keras"))
    with pytest.raises(KeyError, match=r"names 'accuracy', which is neither epoch nor a logged "
                                       r"value \(\['loss'\]\)"):
        model.fit(np.ones((2, 1)), np.ones((2, 1)), verbose=0, callbacks=[callback])


SAVE_LOOP = """
import sys
import numpy as np
import tfq_meta
model = tfq_meta.models.student(n_features=1, n_qubits=2, n_layers=1)
step = 0
while True:
    step += 1
    model.set_weights([np.full(w.shape, step, w.dtype) for w in model.get_weights()])
    tfq_meta.save_model(model, sys.argv[1])
    print(step, flush=True)
"""


@pytest.mark.timeout(60)
def test_a_save_loop_killed_with_sigkill_leaves_a_loadable_checkpoint(tmp_path):
    path = tmp_path / "student.keras"
    loop = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SAVE_LOOP), str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        saved = [int(loop.stdout.readline()) for _ in range(3)]
        time.sleep(0.137)   # mid-write, most likely: saving is all the loop does
    finally:
        loop.send_signal(signal.SIGKILL)
        loop.wait()
    assert saved == [1, 2, 3]
    assert constant_of(keras.models.load_model(path).get_weights()) >= 3


def dense_model():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


@pytest.mark.parametrize("double_checkpoint", [False, True])
def test_backup_and_restore_survives_a_broken_backup_only_with_double_checkpoint(
        tmp_path, double_checkpoint):
    """What the README's advice rests on: a half-written latest.weights.h5 fails every restart,
    unless ``double_checkpoint`` kept the previous backup to fall back on."""
    x, y = np.ones((4, 1), np.float32), np.zeros((4, 1), np.float32)

    def backup():
        return keras.callbacks.BackupAndRestore(tmp_path / "backup", delete_checkpoint=False,
                                                double_checkpoint=double_checkpoint)

    dense_model().fit(x, y, epochs=2, verbose=0, callbacks=[backup()])
    latest = tmp_path / "backup" / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[:100])   # killed while Keras rewrote it in place
    restarted = dense_model()
    if not double_checkpoint:
        with pytest.raises(OSError):
            restarted.fit(x, y, epochs=3, verbose=0, callbacks=[backup()])
        return
    history = restarted.fit(x, y, epochs=3, verbose=0, callbacks=[backup()])
    assert len(history.history["loss"]) == 2   # resumed after epoch 1, the previous backup
