"""The error every user-facing failure of patdnn derives from."""


class PatdnnError(Exception):
    """A user error: bad input, an unsupported model, a missing tool. One clear line."""


class LoweringError(PatdnnError):
    """A module or layer the compiler cannot lower (a layer the vector lowering does not
    handle, or IR that mlir-opt, mlir-translate or LLVM rejects); the message names it."""
