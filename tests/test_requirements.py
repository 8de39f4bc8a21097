"""The install story: ``setup.py`` asks for TensorFlow Quantum exactly where TFQ 0.7.6 has wheels,
and for everything else everywhere tfq_meta's pinned TensorFlow installs.

Oracle: the wheel files PyPI lists for tensorflow-quantum 0.7.6, each mapped to the environment
markers of the machines that can install it; ``packaging`` evaluates setup.py's requirements there.
"""
import pathlib

import pytest
import setuptools
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import parse_tag

ROOT = pathlib.Path(__file__).resolve().parents[1]
# PyPI's files for tensorflow-quantum 0.7.6 (https://pypi.org/simple/tensorflow-quantum/).
TFQ_WHEELS = [f"tensorflow_quantum-0.7.6-{tag}.whl" for tag in (
    "cp310-cp310-manylinux2014_x86_64.manylinux_2_17_x86_64",
    "cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64",
    "cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64")]
# Machines tensorflow 2.18.1 installs on (it has wheels for them) but TFQ 0.7.6 has none for.
WITHOUT_TFQ = [("Linux", "aarch64", "3.11"), ("Darwin", "arm64", "3.11"),
               ("Windows", "AMD64", "3.12"), ("Linux", "x86_64", "3.13")]


def setup_arguments():
    """The keyword arguments setup.py passes to ``setuptools.setup``."""
    captured = {}
    original = setuptools.setup
    setuptools.setup = captured.update
    try:
        exec(compile((ROOT / "setup.py").read_text(), "setup.py", "exec"),
             {"__file__": str(ROOT / "setup.py"), "__name__": "__main__"})
    finally:
        setuptools.setup = original
    return captured


def environment(system, machine, python):
    return {"platform_system": system, "platform_machine": machine, "python_version": python,
            "python_full_version": f"{python}.0", "sys_platform": system.lower(),
            "os_name": "nt" if system == "Windows" else "posix",
            "platform_python_implementation": "CPython", "implementation_name": "cpython"}


def wheel_environment(filename):
    """The environment of a Linux machine that installs a manylinux2014 CPython wheel."""
    tags = parse_tag(filename[:-len(".whl")].split("-", 2)[2])
    tag = next(tag for tag in tags if tag.platform.startswith("manylinux2014_"))
    python = f"{tag.interpreter[2]}.{tag.interpreter[3:]}"
    return environment("Linux", tag.platform[len("manylinux2014_"):], python)


def requirements_in(env):
    return {requirement.name for requirement in map(Requirement,
                                                      setup_arguments()["install_requires"])
            if requirement.marker is None or requirement.marker.evaluate(env)}


@pytest.mark.parametrize("wheel", TFQ_WHEELS)
def test_tfq_is_required_where_its_wheels_install(wheel):
    assert {"tensorflow", "tensorflow-quantum"} <= requirements_in(wheel_environment(wheel))


@pytest.mark.parametrize("system, machine, python", WITHOUT_TFQ)
def test_everything_but_tfq_is_required_elsewhere(system, machine, python):
    everywhere = {Requirement(line).name for line in setup_arguments()["install_requires"]}
    assert requirements_in(environment(system, machine, python)) == everywhere - {
        "tensorflow-quantum"}


def test_python_versions_are_those_tensorflow_and_tfq_have_wheels_for():
    # tensorflow 2.18.1's wheels: CPython 3.9 to 3.12 (none for 3.13); TFQ 0.7.6's from 3.10.
    tensorflow_pythons = {"3.9", "3.10", "3.11", "3.12"}
    allowed = SpecifierSet(setup_arguments()["python_requires"])
    admitted = {f"3.{minor}" for minor in range(8, 15) if f"3.{minor}" in allowed}
    assert admitted == tensorflow_pythons - {"3.9"}
