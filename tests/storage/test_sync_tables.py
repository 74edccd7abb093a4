"""storage.sync_tables describes the tables the sync writes as storage.tables' models do: the same
columns, types, lengths, nullability, keys and Python-side defaults (a Core insert fills in what a
row leaves out from these)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import String
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.sql.sqltypes import UTCDateTime

from storage import sync_tables
from storage import tables as models

TABLES = ["person", "person_activity", "billing_group", "spend_snapshot", "sync_state", "sync_run"]


def _describe(table) -> dict:
    out = {}
    for c in table.columns:
        ctype = c.type.impl if type(c.type).__name__ == "AutoString" else c.type  # a String (but on MySQL)
        if isinstance(ctype, String):
            kind = (String, ctype.length)
        elif type(c.type).__name__ == "UTCDateTime":  # sqlmodel's, or sync_tables' copy of it
            kind = ("UTCDateTime", type(c.type.impl), c.type.impl.timezone)
        else:
            kind = type(c.type)
        default = c.default
        if default is None:
            dflt = None
        elif default.is_callable:
            dflt = ("callable", default.arg.__name__, getattr(default.arg, "__module__", None))
        else:
            dflt = ("scalar", default.arg)
        out[c.name] = (kind, c.nullable, c.primary_key, c.autoincrement, dflt)
    return out


@pytest.mark.parametrize("name", TABLES)
def test_a_sync_table_is_its_model(name):
    model = models.SQLModel.metadata.tables[name]
    core = sync_tables.metadata.tables[name]
    assert _describe(core) == _describe(model)
    assert list(core.columns.keys()) == list(model.columns.keys())


def test_the_time_default_is_one_function():
    assert models.utcnow is sync_tables.utcnow


def test_the_time_type_is_sqlmodels():
    ours, theirs = sync_tables.UTCDateTime(), UTCDateTime()
    east = timezone(timedelta(hours=5, minutes=30))
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        for value in (None, datetime(2026, 11, 30, 12, 0, tzinfo=UTC), datetime(2026, 11, 30, 12, 0, tzinfo=east)):
            assert ours.process_bind_param(value, dialect) == theirs.process_bind_param(value, dialect)
            assert repr(ours.process_bind_param(value, dialect)) == repr(theirs.process_bind_param(value, dialect))
        for value in (None, datetime(2026, 11, 30, 12, 0), datetime(2026, 11, 30, 12, 0, tzinfo=east)):
            assert repr(ours.process_result_value(value, dialect)) == repr(theirs.process_result_value(value, dialect))
        with pytest.raises(ValueError, match="timezone information"):
            ours.process_bind_param(datetime(2026, 11, 30), dialect)
        assert type(ours.coerce_compared_value(None, timedelta(1))) is type(theirs.coerce_compared_value(None,
                                                                                                       timedelta(1)))
