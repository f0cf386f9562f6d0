"""Errors raised by the upstream lowering and the runtime."""

from __future__ import annotations

from patdnn.errors import LoweringError, PatdnnError

__all__ = [
    "ExecutionError",
    "LoweringError",
    "PatdnnRuntimeError",
    "SignatureError",
    "ToolchainError",
]


class PatdnnRuntimeError(PatdnnError, RuntimeError):
    """Base class of every error raised while lowering, compiling or running a model."""


class ToolchainError(PatdnnRuntimeError):
    """An external tool (mlir-opt, a cross compiler, qemu, ...) is missing or unusable."""


class SignatureError(PatdnnRuntimeError, ValueError):
    """Arrays passed to a compiled entry point do not match its signature."""


class ExecutionError(PatdnnRuntimeError):
    """A compiled model failed while running (for example under qemu-aarch64)."""
