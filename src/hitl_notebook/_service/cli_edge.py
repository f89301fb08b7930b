"""The edge of the ``hitl`` command: its shared options, its consoles, the store on ``--db``, and
how it says what went wrong.

Every error ends here as one line on stderr, never a traceback: a usage problem (an unknown
option or value, text that is not valid UTF-8, a bad duration or JSON) exits with status 2; an
error of hitl_notebook exits with 1, its typed message put in the command line's words (the
store speaks Python: ``choice=<one of the options>`` becomes ``--choose OPTION``); anything else
exits with 1 too, named by its type.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console, RenderableType
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from hitl_notebook._core.errors import HitlError

if TYPE_CHECKING:
    from hitl_notebook._store.store import Store

__all__ = [
    "AsCsv",
    "AsJson",
    "Command",
    "Db",
    "Edge",
    "UsageProblem",
    "cli_words",
    "connect",
    "fail",
    "plural",
    "show",
    "usage",
    "width",
]

Db = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="URL",
        help="Database URL or SQLite path (default: as hitl.launch() finds it).",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (one array of objects).")]
AsCsv = Annotated[bool, typer.Option("--csv", help="Print CSV with every column.")]

out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)
_PIPE_WIDTH = 1000
"""Tables written to a pipe or a file are not wrapped at 80 columns (ids stay whole for grep),
unless $COLUMNS says how wide."""


class UsageProblem(Exception):
    """A command was given something it cannot use (exit status 2, as click's usage errors)."""


def connect(db: str | None) -> Store:
    """The store on the database ``--db`` names (else as ``hitl.launch()`` finds it).

    The store brings SQLAlchemy, which takes a quarter of a second to import: it is imported here,
    when a command first needs the database, so that ``hitl --help`` does not wait for it.
    """
    from hitl_notebook._store.default import connect as store_on  # noqa: PLC0415 - see above

    return store_on(db)


def usage(message: str) -> NoReturn:
    """Stop: the command line is wrong (exit status 2)."""
    raise UsageProblem(message)


def fail(message: str) -> NoReturn:
    """Stop with an error line (exit status 1)."""
    raise typer.Exit(_say(message, 1))


def show(renderable: RenderableType) -> None:
    """Print a table (or any rich renderable) at most ``width()`` wide."""
    console = out if out.is_terminal else Console(width=width(), highlight=False)
    console.print(renderable)


def width() -> int:
    """How wide output may be: the terminal's width; for a pipe $COLUMNS, else _PIPE_WIDTH."""
    if out.is_terminal:
        return out.width
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else _PIPE_WIDTH


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 run``, ``2 runs``, ``0 runs`` (``words`` for an irregular plural)."""
    return f"{count} {word if count == 1 else words or word + 's'}"


# -- the store's Python words, in the command line's words -------------------------------------

_CLI_WORDS: list[tuple[str, str]] = [
    (
        r"approve=True \(optionally with value=<edited proposal>\) or approve=False",
        "--approve (or --edit-json EDITED to approve an edited proposal) or --reject",
    ),
    (
        r"approve=True with value=<edited proposal>, or approve=False",
        "--edit-json EDITED or --reject",
    ),
    (r"say approve=True or approve=False", "say --approve or --reject"),
    (r"choice=<one of the options>", "--choose OPTION"),
    (r"choices=<a list of the options>", "--choose OPTION, repeated"),
    (r"value=<the form's fields>", "--input-json FIELDS"),
    (r"text=<your answer>", "--answer TEXT"),
    (r"only goes with approve=True", "only goes with --approve"),
    (r"'approve' does not apply", "--approve/--reject does not apply"),
    (r"'choices' does not apply", "several --choose do not apply"),
    (r"'choice' does not apply", "--choose does not apply"),
    (r"'text' does not apply", "--answer does not apply"),
    (r"'value' does not apply", "--edit-json/--input-json does not apply"),
    (r"(?<=: )value: ", "the JSON object: "),
    (r"hitl\.inbox\(\)", "`hitl inbox`"),
]
"""Phrases of the store's messages (written for Python callers) and what the CLI says instead."""


def cli_words(message: str) -> str:
    """A message of the store in the command line's words."""
    for python, cli in _CLI_WORDS:
        message = re.sub(python, cli, message)
    return message


# -- the edge ----------------------------------------------------------------------------------


class Edge(TyperGroup):
    """The ``hitl`` group: runs a command and turns whatever it raises into one line and an exit
    status (also under typer's CliRunner, which calls ``main`` too)."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            _check_text(argv)
            code = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except Exception as error:  # the one place where every error becomes a line
            code = _report(error)
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


class Command(TyperCommand):
    """A command whose help names its arguments without Python types (``RUN_ID``, not
    ``RUN_ID <str>``); options show their metavar (``--by NAME``) and flags nothing."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        """The Arguments and Options sections of the help."""
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((record[0].partition(" <")[0], record[1]))
            else:
                options.append(record)
        for title, records in (("Arguments", arguments), ("Options", options)):
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


def _check_text(argv: list[str]) -> None:
    """Refuse arguments that are not valid UTF-8 (Python reads them as lone surrogates)."""
    for index, arg in enumerate(argv):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            option, equals, value = arg.partition("=")
            if not (option.startswith("--") and equals):
                before = argv[index - 1] if index else ""
                option = before if before.startswith("--") else f"argument {index + 1}"
                value = arg
            raw = value.encode(
                "utf-8", "surrogateescape" if _escaped(value) else "backslashreplace"
            )
            usage(f"{option}: {raw!r} is not valid UTF-8 text; pass the text in UTF-8.")


def _escaped(arg: str) -> bool:
    """Whether every lone surrogate in ``arg`` stands for a byte (as Python decodes argv)."""
    return all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in arg)


def _report(error: Exception) -> int:
    """Print ``error`` as one line; return the exit status."""
    if isinstance(error, UsageProblem):
        return _say(str(error), 2)
    if isinstance(error, typer.TyperException):  # click's usage errors (and file errors)
        context = getattr(error, "ctx", None)
        if context is not None and error.format_message() == context.get_help():
            print(error.format_message(), file=sys.stderr)  # `hitl` alone: its help
            return error.exit_code
        hint = f" (see {context.command_path} --help)" if context is not None else ""
        message = error.format_message().replace("Value error, ", "")
        return _say(f"{message}{hint}", error.exit_code)
    if isinstance(error, typer.Abort):
        return _say("Aborted.", 1)
    if isinstance(error, HitlError):
        return _say(f"{type(error).__name__}: {cli_words(str(error))}", 1)
    first_line = (str(error).strip().splitlines() or [""])[0]
    return _say(f"{type(error).__name__}: {first_line}", 1)


def _say(message: str, code: int) -> int:
    # One line, whatever the message quotes (a newline in someone's text is shown as \n).
    one_line = message.replace("\r", "\\r").replace("\n", "\\n")
    printable = one_line.encode("utf-8", "backslashreplace").decode("utf-8")
    err.print(f"[red]error:[/red] {escape(printable)}")
    return code
