"""Export never loses data: a failed write leaves the previous SavedModel loadable and unchanged,
and ``overwrite=True`` replaces only a SavedModel (or an empty directory), never a user's files."""
import hashlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfq_meta import models
from tfq_meta import export as export_module
from tfq_meta.export import export, load


@pytest.fixture(scope="module")
def students():
    """Two students with different weights: the first export and its replacement."""
    keras.utils.set_random_seed(0)
    old = models.student(n_features=1, n_qubits=2, n_layers=1)
    new = models.student(n_features=1, n_qubits=2, n_layers=1)
    new.set_weights([w + 0.5 for w in old.get_weights()])
    return old, new


@pytest.fixture
def x():
    return np.linspace(-1, 1, 4, dtype=np.float32)[:, None]


def snapshot(directory):
    """``{relative path: sha256}`` of every file under ``directory``."""
    return {str(f.relative_to(directory)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(directory.rglob("*")) if f.is_file()}


def user_directory(parent):
    """A directory of a user's files, as in a project checkout."""
    (parent / "project" / "src").mkdir(parents=True)
    (parent / "project" / "notes.txt").write_text("meeting notes")
    (parent / "project" / "src" / "train.py").write_text("print('training')")
    return parent / "project"


def test_overwrite_replaces_an_existing_savedmodel(tmp_path, students, x):
    old, new = students
    export(old, tmp_path / "model")
    export(new, tmp_path / "model", overwrite=True)
    np.testing.assert_allclose(load(tmp_path / "model").serve(x), new.predict(x, verbose=0),
                               atol=1e-6)
    assert not np.allclose(old.predict(x, verbose=0), new.predict(x, verbose=0), atol=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["model"], "no staging or retired copies left"


def test_overwrite_false_on_an_existing_savedmodel_is_an_error(tmp_path, students):
    export(students[0], tmp_path / "model")
    before = snapshot(tmp_path / "model")
    with pytest.raises(FileExistsError, match=r"`filepath` '.*model' already exists; pass "
                                              r"overwrite=True to replace it"):
        export(students[1], tmp_path / "model")
    assert snapshot(tmp_path / "model") == before


def test_overwrite_on_an_empty_directory_writes_there(tmp_path, students, x):
    (tmp_path / "empty").mkdir()
    export(students[0], tmp_path / "empty", overwrite=True)
    np.testing.assert_allclose(load(tmp_path / "empty").serve(x),
                               students[0].predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("overwrite, error", [(True, ValueError), (False, FileExistsError)])
def test_a_directory_of_user_files_is_never_replaced(tmp_path, students, overwrite, error):
    project = user_directory(tmp_path)
    before = snapshot(project)
    with pytest.raises(error, match=r"`filepath` '.*project' .*holds files that are not part "
                                    r"of a SavedModel \(notes.txt, src\).*overwrite=True "
                                    r"replaces only a SavedModel or an empty directory"):
        export(students[0], project, overwrite=overwrite)
    assert snapshot(project) == before
    assert [p.name for p in tmp_path.iterdir()] == ["project"]


def test_a_savedmodel_with_user_files_inside_is_not_replaced(tmp_path, students):
    export(students[0], tmp_path / "model")
    (tmp_path / "model" / "README.txt").write_text("how we trained it")
    with pytest.raises(ValueError, match=r"holds files that are not part of a SavedModel "
                                         r"\(README.txt\)"):
        export(students[1], tmp_path / "model", overwrite=True)
    assert (tmp_path / "model" / "README.txt").read_text() == "how we trained it"


@pytest.mark.parametrize("overwrite, error, message", [
    (True, ValueError, r"`filepath` '.*model.keras' is a file or a link, not a directory; "
                       "overwrite=True "
                       "replaces only a SavedModel"),
    (False, FileExistsError, r"`filepath` '.*model.keras' already exists; it is a file"),
])
def test_a_file_is_never_replaced(tmp_path, students, overwrite, error, message):
    (tmp_path / "model.keras").write_bytes(b"a saved model")
    with pytest.raises(error, match=message):
        export(students[0], tmp_path / "model.keras", overwrite=overwrite)
    assert (tmp_path / "model.keras").read_bytes() == b"a saved model"


def test_a_directory_that_is_not_a_savedmodel_is_not_replaced(tmp_path, students):
    (tmp_path / "model" / "variables").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"is not a SavedModel \(no saved_model.pb\)"):
        export(students[0], tmp_path / "model", overwrite=True)
    assert (tmp_path / "model" / "variables").is_dir()


def test_a_failing_write_leaves_the_previous_export(tmp_path, students, x, monkeypatch):
    old, new = students
    export(old, tmp_path / "model")
    before = snapshot(tmp_path / "model")
    save = tf.saved_model.save

    def write_then_fail(trackable, filepath, **kwargs):
        save(trackable, filepath, **kwargs)          # the files exist, as midway
        raise OSError("No space left on device")

    monkeypatch.setattr(tf.saved_model, "save", write_then_fail)
    with pytest.raises(OSError, match="No space left"):
        export(new, tmp_path / "model", overwrite=True)
    assert snapshot(tmp_path / "model") == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"], "the staging directory is removed"
    np.testing.assert_allclose(load(tmp_path / "model").serve(x), old.predict(x, verbose=0),
                               atol=1e-6)


def test_a_failing_rename_restores_the_previous_export(tmp_path, students, x, monkeypatch):
    """The last step (new SavedModel into place, old one aside) fails: the old one is back."""
    old, new = students
    export(old, tmp_path / "model")
    before = snapshot(tmp_path / "model")
    rename, calls = export_module.os.rename, []

    def second_rename_fails(source, target):
        calls.append((source, target))
        if len(calls) == 2:
            raise OSError("rename failed")
        rename(source, target)

    monkeypatch.setattr(export_module.os, "rename", second_rename_fails)
    with pytest.raises(OSError, match="rename failed"):
        export(new, tmp_path / "model", overwrite=True)
    monkeypatch.undo()
    assert len(calls) == 3, "aside, into place (failed), back"
    assert snapshot(tmp_path / "model") == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    np.testing.assert_allclose(load(tmp_path / "model").serve(x), old.predict(x, verbose=0),
                               atol=1e-6)


def test_a_refused_export_writes_nothing(tmp_path, students):
    """Bad arguments are caught before any directory is created."""
    with pytest.raises(ValueError, match="`overwrite` must be True or False; got 'yes'"):
        export(students[0], tmp_path / "a", overwrite="yes")
    with pytest.raises(ValueError, match="`format` must be 'tf_saved_model'"):
        export(students[0], tmp_path / "b", format="onnx")
    assert not any(tmp_path.iterdir())


def test_missing_parent_directories_are_created(tmp_path, students, x):
    export(students[0], tmp_path / "runs" / "1" / "model")
    np.testing.assert_allclose(load(tmp_path / "runs" / "1" / "model").serve(x),
                               students[0].predict(x, verbose=0), atol=1e-6)


def test_files_that_appear_during_the_write_are_kept(tmp_path, students, monkeypatch):
    """A user's file saved into the old SavedModel while the new one was written stops the
    replacement: the check is repeated just before the rename."""
    export(students[0], tmp_path / "model")
    save = tf.saved_model.save

    def save_while_user_writes(trackable, filepath, **kwargs):
        save(trackable, filepath, **kwargs)
        (tmp_path / "model" / "notes.txt").write_text("results")

    monkeypatch.setattr(tf.saved_model, "save", save_while_user_writes)
    with pytest.raises(ValueError, match=r"not part of a SavedModel \(notes.txt\)"):
        export(students[1], tmp_path / "model", overwrite=True)
    assert (tmp_path / "model" / "notes.txt").read_text() == "results"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
