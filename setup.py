"""Installs tfq_meta: quantum meta-learning and distillation as Keras 3 workflows."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def _requirements():
    """The PEP 508 lines of requirements.txt, environment markers included."""
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


setup(
    name="tfq_meta",
    version="0.1.0",
    description=("Quantum meta-learning and knowledge distillation for Keras 3 on TensorFlow "
                 "Quantum."),
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tfq_meta", "tfq_meta.*"]),
    # tensorflow 2.18.1 has no wheels for Python 3.13 (2.20 is the first), TFQ 0.7.6 none below
    # 3.10. Without TFQ a newer Python needs a newer TensorFlow, which tfq_meta is not tested on.
    python_requires=">=3.10,<3.13",
    install_requires=_requirements(),
    extras_require={
        "test": ["pytest>=7", "pytest-timeout>=2", "pytest-xdist>=3"],
        # What bench/ compares against: TFQ's own layers (tf_keras) and PennyLane on torch.
        # torch 2.13.0 installs the CPU build; numpy stays below 2.1 for TensorFlow 2.18.
        # bench_peers.py's JAX peers: jax 0.5.3 (TFQ 0.7.6 needs jax<0.6), PennyLane on it,
        # TensorCircuit-ng on it and optax's Adam; 1.10.0 and 0.2.8 leave numpy and jax be.
        "bench": ["tf-keras~=2.18.0", "torch==2.13.0", "pennylane>=0.40", "numpy<2.1",
                  "jax[cpu]==0.5.3", "tensorcircuit-ng==1.10.0", "optax==0.2.8"],
        # keras-tuner's distributed search (tfq_meta.distributed): the chief serves the oracle
        # over gRPC. keras-tuner 1.4.7 does not install these; the ranges are TF 2.18's.
        "distributed": ["grpcio>=1.24.3,<2.0", "protobuf>=3.20.3,<6.0.0dev"],
    },
)
