"""The `abacus` command line.

Exit codes (docs/contract.md): 0 done; 1 failed at run time with a one-line reason;
2 bad input or usage, nothing written. Results go to stdout, progress to stderr.
Each subcommand lives in its own module with `register(subparsers)`; the parser calls
`args.handler(args)`, which returns an exit code.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import sys
from typing import NoReturn

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
    if not args.verbose:
        # psycopg logs what it ignores while unwinding a failed COPY (a lost connection: "error ignored
        # terminating <psycopg.Copy [BAD]>") before the failure reaches us as one line; -v shows it
        logging.getLogger("psycopg").setLevel(logging.ERROR)
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
    leave(main())


def leave(code: int) -> NoReturn:
    """End the process with `code` without tearing the interpreter down, as mypy does
    (`mypy.util.hard_exit`): freeing every object of the libraries a command imported takes
    0.13–0.18 s after a sync (~930k objects), more than the rest of an hourly run's writing, and
    none of it is work of ours. What an exit must still do is done first: every database engine's
    connections closed (`storage.db.dispose_engines`: SQLite checkpoints its WAL then), the results
    flushed, the atexit handlers run (logging's flush among them). Only a process that is alone by
    then — one thread, no child process — leaves this way; any other exits as usual, so that the
    interpreter waits for what still runs."""
    import os
    import threading

    if "storage.db" in sys.modules:  # first: an ingest's WAL checkpointer thread ends with its engine
        try:
            sys.modules["storage.db"].dispose_engines()
        except Exception:  # noqa: BLE001 - closing a connection that failed: the exit goes on
            logging.getLogger("abacus").debug("closing database connections at exit failed", exc_info=True)
    multiprocessing = sys.modules.get("multiprocessing")
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if threading.active_count() > 1 or run_exitfuncs is None or (
            multiprocessing is not None and multiprocessing.active_children()):
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (BrokenPipeError, ValueError):  # the reader left (`abacus report | head`), or closed
            pass
        except OSError as exc:  # a full disk, an I/O error: the results are not all there
            code = code or 1
            if stream is sys.stdout:
                try:
                    print(f"abacus: cannot write the output: {exc.strerror or type(exc).__name__}", file=sys.stderr)
                except (OSError, ValueError):
                    pass
    run_exitfuncs()
    os._exit(code)
