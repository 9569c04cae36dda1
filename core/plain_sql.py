"""Plain-SQL reads and inserts of model instances, for the few statements run on every delivery.

Building a query with Django's compiler costs about a millisecond of Python on our machines,
several times what PostgreSQL takes to run it; on the acknowledgement path that is a fifth of
a request. These helpers keep the models' own value conversions (field.get_db_prep_save on the
way in, the database and field converters on the way out), so the instances behave as if the
ORM had written or read them.

Table and column names always come from the models' _meta (table(), columns()), never typed
into SQL: a model's table may be renamed or kept under another app's name.

The inserts skip Django's model signals, so they refuse a model anything listens to: a receiver
connected to pre_save or post_save of such a model would silently never run."""

import functools

from django.db import connection
from django.db.models import Model, signals


class SignalsWouldBeSkipped(TypeError):
    """A plain-SQL insert of a model that has pre_save or post_save receivers."""


def _refuse_if_listened_to(model: type[Model]) -> None:
    # Cheap: Django caches each sender's receivers for the model signals.
    if signals.pre_save.has_listeners(model) or signals.post_save.has_listeners(model):
        raise SignalsWouldBeSkipped(
            f"{model._meta.label} has pre_save or post_save receivers, which a plain-SQL insert "
            "would skip: save it with the ORM"
        )


def table(model: type[Model]) -> str:
    """The model's table name, quoted for SQL."""
    return connection.ops.quote_name(model._meta.db_table)


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
    post_save signals: refused for a model something listens to."""
    _refuse_if_listened_to(type(obj))
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
    _refuse_if_listened_to(type(objs[0]))
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
