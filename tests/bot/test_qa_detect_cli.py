"""QA pass on `abacus detect`'s arguments."""

from __future__ import annotations

import pytest


def _run(args, capsys):
    from bot.cli import main

    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["detect", "--backtest", "--days", "0"], "--days must be between 1 and"),
    (["detect", "--days", "0"], "--from/--to/--days go with --backtest"),
])
def test_days_zero_is_named_as_the_problem(args, message, abacus_env, capsys):
    code, err = _run(args, capsys)
    assert code == 2 and message in err, err
