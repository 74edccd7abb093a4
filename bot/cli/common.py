"""Argument helpers shared by subcommands."""

from __future__ import annotations

import argparse

from core.errors import InputError
from core.periods import DateRange, PeriodError, from_args


def add_range_args(parser: argparse.ArgumentParser, *, what: str = "range") -> None:
    parser.add_argument("--from", dest="from_", metavar="YYYY-MM-DD", help=f"first UTC day of the {what}")
    parser.add_argument("--to", metavar="YYYY-MM-DD", help=f"last UTC day of the {what} (inclusive)")
    parser.add_argument("--days", type=int, metavar="N", help="the N days ending today")


def range_from(args: argparse.Namespace, *, default_days: int = 30) -> DateRange:
    try:
        return from_args(args.from_, args.to, args.days, default_days=default_days)
    except PeriodError as exc:
        raise InputError(str(exc)) from None
