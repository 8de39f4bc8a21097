"""An OpenQASM 2.0 reader for the tests, independent of Cirq's QASM writer and importer.

Cirq's importer (``cirq.contrib.qasm_import``) needs ``ply``, which tfq_meta does not install.
This reader builds each qelib1 gate from its matrix as ``qelib1.inc`` defines it (up to a global
phase), so a program read back and simulated by Cirq checks what the writer wrote.
"""
import re

import cirq
import numpy as np

_STATEMENT = re.compile(r"^(\w+)(?:\(([^)]*)\))?\s+(.+);$")
_QUBIT = re.compile(r"^q\[(\d+)\]$")


def u3(theta, phi, lam):
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    return np.array([[c, -np.exp(1j * lam) * s],
                     [np.exp(1j * phi) * s, np.exp(1j * (phi + lam)) * c]])


def _rx(t):
    return u3(t, -np.pi / 2, np.pi / 2)


def _controlled(matrix):
    return np.block([[np.eye(2), np.zeros((2, 2))], [np.zeros((2, 2)), matrix]])


_X = np.array([[0, 1], [1, 0]])
_SX = np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]) / 2
GATES = {
    "u3": u3, "u2": lambda p, lam: u3(np.pi / 2, p, lam), "u1": lambda lam: u3(0, 0, lam),
    "rx": _rx, "ry": lambda t: u3(t, 0, 0), "rz": lambda t: u3(0, 0, t),
    "id": lambda: np.eye(2), "x": lambda: _X, "y": lambda: np.array([[0, -1j], [1j, 0]]),
    "z": lambda: np.diag([1, -1]), "h": lambda: np.array([[1, 1], [1, -1]]) / np.sqrt(2),
    "s": lambda: np.diag([1, 1j]), "sdg": lambda: np.diag([1, -1j]),
    "t": lambda: np.diag([1, np.exp(1j * np.pi / 4)]),
    "tdg": lambda: np.diag([1, np.exp(-1j * np.pi / 4)]),
    "sx": lambda: _SX, "sxdg": lambda: _SX.conj().T,
    "cx": lambda: _controlled(_X), "cz": lambda: np.diag([1, 1, 1, -1]),
    "swap": lambda: np.eye(4)[[0, 2, 1, 3]],
    "ccx": lambda: np.block([[np.eye(6), np.zeros((6, 2))], [np.zeros((2, 6)), _X]]),
}


def circuit_from_qasm(program):
    """The ``cirq.Circuit`` of an OpenQASM 2.0 program of qelib1 gates on one register ``q``;
    register ``q[i]`` becomes ``cirq.LineQubit(i)``."""
    circuit = cirq.Circuit()
    for line in program.splitlines():
        line = line.strip()
        if not line or line.startswith(("//", "OPENQASM", "include", "qreg")):
            continue
        name, parameters, operands = _STATEMENT.match(line).groups()
        angles = [_angle(p) for p in parameters.split(",")] if parameters else []
        qubits = [cirq.LineQubit(int(_QUBIT.match(q.strip()).group(1)))
                  for q in operands.split(",")]
        circuit.append(cirq.MatrixGate(np.asarray(GATES[name](*angles), complex)).on(*qubits))
    return circuit


def _angle(text):
    """``pi*0.25``, ``pi*-0.5``, ``0`` or ``-pi*0.5``, as Cirq writes angles."""
    text = text.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    value = sign
    for factor in text.lstrip("-").split("*"):
        value *= np.pi if factor.strip() == "pi" else float(factor)
    return value
