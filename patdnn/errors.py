"""The error every user-facing failure of patdnn derives from."""


class PatdnnError(Exception):
    """A user error: bad input, an unsupported model, a missing tool. One clear line."""


class LoweringError(PatdnnError):
    """A module or layer the compiler cannot lower (a layer the vector lowering does not
    handle, or IR that mlir-opt, mlir-translate or LLVM rejects); the message names it."""


class ArgumentError(PatdnnError, ValueError):
    """An argument of the Python API has the wrong type or value; the message names it."""


EXIT_INTERNAL = 3
"""Exit status of `patdnn` and `patdnn-opt` for an internal error (a bug of patdnn): 1 is a
user error, 2 bad command-line usage."""


def internal_error_line(prog: str, error: BaseException) -> str:
    """The one line a command prints for an exception that is not a `PatdnnError`."""
    message = " ".join(str(error).split()) or "(no message)"
    return (
        f"{prog}: internal error ({type(error).__name__}): {message} -- a bug of patdnn: "
        "rerun with PATDNN_DEBUG=1 and report the traceback"
    )
