"""`patdnn-opt`: xdsl-opt with the patdnn dialects and passes.

```
patdnn-opt model.mlir -p convert-torch-to-patdnn,filter-kernel-reorder
```
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Sequence

from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from patdnn.dialect import get_all_dialects
from patdnn.dialect.weights import WeightError, materialize_resources
from patdnn.errors import PatdnnError
from patdnn.lowering import get_all_passes


class PipelineError(PatdnnError):
    """The `-p` pass pipeline does not parse."""


class PatdnnOptMain(xDSLOptMain):
    def register_all_dialects(self) -> None:
        super().register_all_dialects()
        for name, factory in get_all_dialects().items():
            if name not in self.ctx.registered_dialect_names:
                self.ctx.register_dialect(name, factory)

    def register_all_passes(self) -> None:
        super().register_all_passes()
        for name, factory in get_all_passes().items():
            if name not in self.available_passes:
                self.register_pass(name, factory)

    def setup_pipeline(self) -> None:
        try:
            super().setup_pipeline()
        except ArgSpecParseError as e:  # a BaseException in xDSL: turn it into one line
            raise PipelineError(
                f"bad pass pipeline {self.args.passes!r}: {_spec_error(e)}"
            ) from None

    def output_resulting_program(self, prog: ModuleOp) -> str:
        materialize_resources(prog)
        # The resource section is printed by the builtin dialect's interface.
        self.ctx.get_optional_dialect("builtin")
        return super().output_resulting_program(prog)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    """Warnings (a layer left dense, ...) as one line for the user, not a source location."""
    print(f"patdnn-opt: warning: {message}", file=sys.stderr)


def _spec_error(error: ArgSpecParseError) -> str:
    """xDSL's multi-line pipeline parse error as `<message> (column N)`."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    message = lines[-1] if lines else "cannot parse it"
    for line in lines:
        if where := re.fullmatch(r"pass-pipeline:\d+:(\d+)", line):
            return f"{message} (column {where.group(1)})"
    return message


def _failing_op(note: str) -> str:
    """The op a verifier error points at, with its marker, out of the whole printed module."""
    lines = note.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("^") and i > 0:
            return "\n".join(lines[i - 1 : i + 3])
    return ""


def main(args: Sequence[str] | None = None) -> None:
    warnings.showwarning = _show_warning
    try:
        tool = PatdnnOptMain(description="patdnn modular optimizer driver", args=args)
    except (ValueError, PipelineError) as e:  # an unknown pass, a bad pass option or pipeline
        print(f"patdnn-opt: error: {e}", file=sys.stderr)
        sys.exit(1)
    try:
        tool.run()
    except ParseError as e:
        print(e, file=sys.stderr)
        sys.exit(1)
    except DiagnosticException as e:
        print(f"patdnn-opt: error: {e}", file=sys.stderr)
        for note in getattr(e, "__notes__", []):
            if excerpt := _failing_op(note):
                print(excerpt, file=sys.stderr)
        sys.exit(1)
    except (PatdnnError, WeightError) as e:
        print(f"patdnn-opt: error: {e}", file=sys.stderr)
        sys.exit(1)
    except OSError as e:  # the input file cannot be read, the output not written
        print(f"patdnn-opt: error: {e.strerror}: {e.filename}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
