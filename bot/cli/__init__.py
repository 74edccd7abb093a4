"""The `abacus` command line.

Exit codes (docs/contract.md): 0 done; 1 failed at run time with a one-line reason;
2 bad input or usage, nothing written. Results go to stdout, progress to stderr.
Each subcommand lives in its own module with `register(subparsers)`; the parser calls
`args.handler(args)`, which returns an exit code.
"""

from __future__ import annotations

import argparse
import logging
import sys

from core.errors import AbacusError, ConfigError, InputError, PermissionDenied, RuntimeFailure

SUBCOMMAND_MODULES = ("run", "sync", "importing", "detect", "report", "mapping", "demo", "database")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors: exit 2, one line
        self.print_usage(sys.stderr)
        print(f"abacus: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = _Parser(prog="abacus", description="What your AI coding tools cost, who drives it, and when "
                                                "something is off.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"bot.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bot.cli.{name}":
                continue  # subcommand not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except InputError as exc:
        _fail(exc)
        return 2
    except (ConfigError, RuntimeFailure, PermissionDenied) as exc:
        _fail(exc)
        return 1
    except AbacusError as exc:
        _fail(exc)
        return 1
    except BrokenPipeError:  # `abacus report | head`: the reader left; not an error
        sys.stdout = None  # nothing left to flush at exit (which would raise again)
        return 0
    except Exception as exc:
        if not _is_database_error(exc):
            raise
        from storage.dbapi import describe_db_error

        print(f"abacus: {describe_db_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("abacus: interrupted", file=sys.stderr)
        return 130


def _is_database_error(exc: Exception) -> bool:
    """A driver's error (sqlite3, psycopg), or one SQLAlchemy wrapped. Only the drivers this process
    loaded are looked up: a command that never touched the database (`--help`) imports none."""
    from storage.dbapi import driver_error_types

    return isinstance(exc, driver_error_types())


def _fail(exc: Exception) -> None:
    from core.report import printable  # a message may quote a file name or a cell: no terminal escapes

    for line in str(exc).splitlines() or [type(exc).__name__]:
        print(f"abacus: {printable(line)}", file=sys.stderr)


def entry() -> None:
    sys.exit(main())
