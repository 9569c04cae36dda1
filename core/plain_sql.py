"""Plain-SQL reads and inserts of model instances, for the few statements run on every delivery.

Building a query with Django's compiler costs about a millisecond of Python on our machines,
several times what PostgreSQL takes to run it; on the acknowledgement path that is a fifth of
a request. These helpers keep the models' own value conversions (field.get_db_prep_save on the
way in, the database and field converters on the way out), so the instances behave as if the
ORM had written or read them."""

import functools

from django.db import connection
from django.db.models import Model


@functools.cache
def _insert_parts(model: type[Model]) -> tuple[str, str, tuple, str]:
    """("INSERT INTO table (columns)", one row's placeholders, the fields, and the RETURNING
    clause of a database-generated primary key, or "")."""
    quote = connection.ops.quote_name
    generated = model._meta.pk.db_returning
    fields = tuple(f for f in model._meta.concrete_fields if not (generated and f.primary_key))
    head = "INSERT INTO {table} ({columns})".format(
        table=quote(model._meta.db_table),
        columns=", ".join(quote(field.column) for field in fields),
    )
    row = "({})".format(", ".join(["%s"] * len(fields)))
    returning = f" RETURNING {quote(model._meta.pk.column)}" if generated else ""
    return head, row, fields, returning


def _params(obj: Model, fields: tuple) -> list:
    return [field.get_db_prep_save(field.pre_save(obj, add=True), connection) for field in fields]


def insert(obj: Model) -> None:
    """INSERT one new instance as obj.save(force_insert=True) would, less the pre_save and
    post_save signals (keep it to models nothing listens to)."""
    head, row, fields, returning = _insert_parts(type(obj))
    with connection.cursor() as cursor:
        cursor.execute(f"{head} VALUES {row}{returning}", _params(obj, fields))
        if returning:
            obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = connection.alias


def insert_many(objs: list[Model], *, on_conflict: str = "") -> None:
    """INSERT new instances of one model in one statement, with an optional ON CONFLICT
    clause (the part after "ON CONFLICT"). Generated primary keys are not read back."""
    if not objs:
        return
    head, row, fields, _ = _insert_parts(type(objs[0]))
    sql = f"{head} VALUES {', '.join([row] * len(objs))}"
    if on_conflict:
        sql += f" ON CONFLICT {on_conflict}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for obj in objs for value in _params(obj, fields)])


def columns(model: type[Model], alias: str = "") -> str:
    """The list of all of a model's columns, qualified by `alias` if given, for instances()."""
    quote = connection.ops.quote_name
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{quote(field.column)}" for field in model._meta.concrete_fields)


@functools.cache
def _converters(model: type[Model]) -> tuple:
    """(column expression, its converters) per field, as the ORM's compiler would apply them."""
    result = []
    for field in model._meta.concrete_fields:
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        result.append((column, tuple(converters)))
    return tuple(result)


def instances(models: tuple[type[Model], ...], rows) -> list[tuple[Model, ...]]:
    """Each row, whose columns are columns(model) of each model in turn, as instances."""
    result = []
    for row in rows:
        start, objs = 0, []
        for model in models:
            fields = model._meta.concrete_fields
            values = list(row[start : start + len(fields)])
            for index, (column, converters) in enumerate(_converters(model)):
                for convert in converters:
                    values[index] = convert(values[index], column, connection)
            objs.append(model.from_db(connection.alias, [f.attname for f in fields], values))
            start += len(fields)
        result.append(tuple(objs))
    return result
