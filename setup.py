"""Installs tfq_meta: quantum meta-learning and distillation as Keras 3 workflows."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def _requirements():
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


setup(
    name="tfq_meta",
    version="0.1.0",
    description="Quantum meta-learning and knowledge distillation for Keras 3 on TensorFlow Quantum.",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tfq_meta", "tfq_meta.*"]),
    python_requires=">=3.10,<3.13",
    install_requires=_requirements(),
    extras_require={
        "test": ["pytest>=7", "pytest-timeout>=2"],
        # tf_keras runs TFQ's own tfq.layers.PQC in the comparison benchmark.
        "bench": ["tf-keras~=2.18.0"],
    },
)
