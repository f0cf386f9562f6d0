# lit configuration for patdnn's FileCheck tests (`lit test/`).
import os

import lit.formats

config.name = "patdnn"

config.test_format = lit.formats.ShTest()
# Python-driven FileCheck tests (`// RUN: python %s | filecheck %s`) live in folders
# whose lit.local.cfg adds ".py"; elsewhere .py files are pytest suites.
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.excludes = ["__init__.py", "__pycache__", "Output", ".venv"]
config.environment["PATH"] = os.pathsep.join(
    [os.path.dirname(os.path.realpath(__file__)) + "/.venv/bin", os.environ.get("PATH", "")]
)
for var in ("HOME", "TMPDIR", "PIP_FIND_LINKS"):
    if var in os.environ:
        config.environment[var] = os.environ[var]

config.substitutions.append(("PATDNN_ROUNDTRIP", "patdnn-opt %s --split-input-file"))
config.substitutions.append(
    ("PATDNN_GENERIC_ROUNDTRIP", "patdnn-opt %s --split-input-file --print-op-generic")
)
config.substitutions.append(("%python", "python"))


def _cpu_flags() -> set[str]:
    """The flags of this CPU (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# `REQUIRES: x86-avx2`: tests of the x86-avx2 target, which needs an x86-64 host with AVX2+FMA.
if {"avx2", "fma"} <= _cpu_flags() and os.uname().machine == "x86_64":
    config.available_features.add("x86-avx2")
