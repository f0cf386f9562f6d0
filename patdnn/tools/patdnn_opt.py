"""`patdnn-opt`: xdsl-opt with the patdnn dialects and passes.

```
patdnn-opt model.mlir -p convert-torch-to-patdnn,filter-kernel-reorder
```

Every failure is one line `patdnn-opt: error: ...` naming the file, line, op, pass or
option, and exit status 1 (2 for bad command-line usage); any other exception is a bug
of patdnn: one line `patdnn-opt: internal error: ...` and exit status 3
(`PATDNN_DEBUG=1` shows the traceback). With `-o FILE`, FILE is written to a temporary
name and renamed when complete: a failed run leaves an existing FILE as it was.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, get_type_hints

from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.arg_spec import (
    _convert_arg_to_type,
    parse_pipeline,
)
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from patdnn.dialect import get_all_dialects
from patdnn.dialect.weights import WeightError, materialize_resources
from patdnn.errors import EXIT_INTERNAL, PatdnnError, internal_error_line
from patdnn.files import OutputError, PendingFile
from patdnn.lowering import get_all_passes

PROG = "patdnn-opt"


class PipelineError(PatdnnError):
    """The `-p` pass pipeline does not parse, or names a bad pass option."""


class InputError(PatdnnError):
    """The input file cannot be read as MLIR text."""


class PatdnnOptMain(xDSLOptMain):
    _output: PendingFile | None = None

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
            specs = list(parse_pipeline(self.args.passes)) if self.args.passes else []
        except ArgSpecParseError as e:  # a BaseException in xDSL: turn it into one line
            raise PipelineError(
                f"bad pass pipeline {self.args.passes!r}: {_spec_error(e)}"
            ) from None
        for spec in specs:
            _check_pass_options(self.available_passes, spec)
        super().setup_pipeline()

    def get_input_stream(self) -> tuple[IO[bytes], str]:
        """The input as checked UTF-8 bytes (any bytes in are one clear error out)."""
        name = self.args.input_file
        if name is None:
            data, extension = sys.stdin.buffer.read(), "mlir"
        else:
            path = Path(name)
            if path.is_dir():
                raise InputError(f"{name}: is a directory, expected an MLIR file")
            try:
                data = path.read_bytes()
            except OSError as e:
                raise InputError(f"{name}: cannot read it: {e.strerror}") from None
            extension = path.suffix.removeprefix(".")
            if not self.args.frontend and extension not in self.available_frontends:
                raise InputError(
                    f"{name}: unknown file extension {path.suffix or '(none)'!r}; patdnn-opt "
                    "reads .mlir files (or give --frontend mlir)"
                )
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data.count(b"\n", 0, e.start) + 1
            raise InputError(
                f"{self.get_input_name()}:{line}: not MLIR text (byte 0x{data[e.start]:02x} at "
                f"offset {e.start} is not UTF-8)"
            ) from None
        if b"\0" in data:
            offset = data.index(b"\0")
            line = data.count(b"\n", 0, offset) + 1
            raise InputError(
                f"{self.get_input_name()}:{line}: not MLIR text (a NUL byte at offset {offset})"
            )
        return io.BytesIO(data), extension

    def parse_chunk(
        self, chunk: IO[bytes], file_extension: str, start_offset: int = 0
    ) -> ModuleOp | None:
        try:
            return super().parse_chunk(chunk, file_extension, start_offset)
        except NotImplementedError as e:
            # xDSL's parser has no storage for some well-formed types (a dense array of
            # i664): the input is outside what can be read, not a bug of patdnn.
            raise InputError(f"{self.get_input_name()}: cannot read this input: {e}") from None

    def prepare_output(self) -> IO[str]:
        """`-o FILE`: a temporary file next to FILE, renamed by `finish_output`."""
        if self.args.output_file is None:
            return sys.stdout
        self._output = PendingFile(self.args.output_file)
        return self._output.stream

    def finish_output(self, ok: bool) -> None:
        output, self._output = self._output, None
        if output is not None:
            output.commit() if ok else output.discard()

    def output_resulting_program(self, prog: ModuleOp) -> str:
        materialize_resources(prog)
        # The resource section is printed by the builtin dialect's interface.
        self.ctx.get_optional_dialect("builtin")
        return super().output_resulting_program(prog)


def _check_pass_options(available: dict[str, Any], spec: Any) -> None:
    """Each option of a pass spec names an option of the pass and has its type, or a
    `PipelineError` naming the pass, the option and the type it expects."""
    if spec.name not in available:
        raise PipelineError(
            f"unknown pass '{spec.name}' in the pipeline (patdnn-opt --help lists the passes)"
        )
    cls = available[spec.name]()
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name != "name"}
    hints = get_type_hints(cls)
    for option, value in spec.parameters.items():
        field = option.replace("-", "_")
        if field not in fields:
            known = ", ".join(f.replace("_", "-") for f in fields) or "none"
            raise PipelineError(
                f"pass '{spec.name}' has no option '{option}' (its options: {known})"
            )
        try:
            _convert_arg_to_type(value, hints[field])
        except (ValueError, TypeError):
            shown = " ".join(str(v) for v in value) if value else "(nothing)"
            raise PipelineError(
                f"pass '{spec.name}': option '{option}' expects {_type_name(hints[field])}, "
                f"got {shown!r}"
            ) from None


def _type_name(hint: Any) -> str:
    text = getattr(hint, "__name__", None) if not hasattr(hint, "__args__") else None
    text = text or str(hint).replace("typing.", "")
    return {"int": "an integer", "bool": "true or false", "str": "a string"}.get(text, text)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    """Warnings (a layer left dense, ...) as one line for the user, not a source location."""
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def _spec_error(error: ArgSpecParseError) -> str:
    """xDSL's multi-line pipeline parse error as `<message> (column N)`."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    message = lines[-1] if lines else "cannot parse it"
    for line in lines:
        if where := re.fullmatch(r"pass-pipeline:\d+:(\d+)", line):
            return f"{message} (column {where.group(1)})"
    return message


def _failing_op(note: str) -> str:
    """The op a verifier error points at (its first line), out of the whole printed module."""
    lines = note.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("^") and i > 0:
            return lines[i - 1].strip()
    return ""


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def _parse_error(e: ParseError) -> str:
    try:
        where = str(e.span.get_location())
    except Exception:  # a span without its input: the message alone
        where = ""
    return f"{where}: {_one_line(e.msg)}" if where else _one_line(e.msg)


def _diagnostic(e: DiagnosticException) -> str:
    message = _one_line(str(e))
    for note in getattr(e, "__notes__", []):
        if op := _failing_op(note):
            if len(op) > 160:
                op = op[:157] + "..."
            return f"{message} (at `{op}`)"
    return message


def main(args: Sequence[str] | None = None) -> None:
    warnings.showwarning = _show_warning
    debug = os.environ.get("PATDNN_DEBUG", "") not in ("", "0")
    tool: PatdnnOptMain | None = None
    try:
        tool = PatdnnOptMain(description="patdnn modular optimizer driver", args=args)
        tool.run()
        tool.finish_output(ok=True)
    except SystemExit:
        if tool is not None:
            tool.finish_output(ok=False)
        raise
    except BaseException as e:
        if tool is not None:
            tool.finish_output(ok=False)
        if isinstance(e, KeyboardInterrupt):
            print(f"{PROG}: interrupted", file=sys.stderr)
            sys.exit(130)
        if debug:
            traceback.print_exc()
        message = _user_error(e)
        if message is None:
            print(internal_error_line(PROG, e), file=sys.stderr)
            sys.exit(EXIT_INTERNAL)
        if isinstance(e, WeightError) and tool is not None:  # a blob of the input file
            message = f"{tool.get_input_name()}: {message}"
        print(f"{PROG}: error: {message}", file=sys.stderr)
        sys.exit(1)


def _user_error(e: BaseException) -> str | None:
    """The one-line message of a user error, None for a bug of patdnn."""
    if isinstance(e, ParseError):
        return _parse_error(e)
    if isinstance(e, DiagnosticException):
        return _diagnostic(e)
    if isinstance(e, ArgSpecParseError):
        return f"bad pass pipeline: {_spec_error(e)}"
    if isinstance(e, OutputError):
        return str(e)
    if isinstance(e, PatdnnError):
        return _one_line(str(e))
    if isinstance(e, OSError) and e.filename:  # the output cannot be written
        return f"{e.filename}: {e.strerror}"
    return None


if __name__ == "__main__":
    main()
