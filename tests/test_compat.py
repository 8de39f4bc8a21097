"""The version gates of tfq_meta._compat: a workaround applies until the installed release is the
one that fixed it, and every library whose private API is used is bounded from above in
requirements.txt."""
import os
import re

import pytest

from tfq_meta import _compat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_version_tuples_compare_release_numbers():
    assert _compat.version_tuple("1.4.8") == (1, 4, 8)
    assert _compat.version_tuple("1.5.0rc1") == (1, 5, 0)
    assert _compat.version_tuple("3.15.1") > _compat.version_tuple("3.9")


@pytest.mark.parametrize("installed, fixed_in, applies", [
    ((1, 4, 8), None, True), ((1, 4, 8), "1.4.9", True), ((1, 4, 8), "1.4.8", False),
    ((3, 15, 1), "3.16", True), ((3, 16, 0), "3.16", False)])
def test_workaround_applies_before_the_release_that_fixed_it(monkeypatch, installed, fixed_in,
                                                            applies):
    monkeypatch.setattr(_compat, "installed_version", lambda distribution: installed)
    assert _compat.Workaround("keras", "url", fixed_in).applies() is applies


@pytest.mark.parametrize("distribution", ["keras", "keras-tuner", "tensorflow",
                                          "tensorflow-quantum", "cirq-core"])
def test_libraries_whose_private_api_is_used_are_bounded_from_above(distribution):
    with open(os.path.join(ROOT, "requirements.txt")) as requirements:
        line = next(line for line in requirements
                    if re.match(rf"{re.escape(distribution)}\s*[<>=!~]", line))
    assert "<" in line or "==" in line, line
