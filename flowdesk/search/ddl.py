"""The search index, kept by the database itself so that every writer (the ORM, COPY imports, the
engine, sockets, the admin, raw SQL) keeps it in step without a Python hook.

PostgreSQL: on the source table, a generated ``search_text`` column (when the text is not one
plain column), a generated ``search_tsv`` (``to_tsvector('simple', ...)``), a GIN index on each
and a GIN trigram index (pg_trgm) on the text, so that words, word prefixes and substrings, CJK
text without spaces included, are found.

SQLite: a document table ``flowdesk_search_<name>`` (pk, body) filled by triggers on the source
table, and an FTS5 external-content table over it with the trigram tokenizer (SQLite >= 3.34).
The FTS rowid is the document's own INTEGER PRIMARY KEY: a source table's implicit rowid may
change on VACUUM.
"""

import sqlite3

from django.db.migrations.operations.base import Operation

# The text indexed per row: enough for any conversation turn, and below tsvector's 1 MB limit
# whatever the text (a longer one would make the write fail).
MAX_CHARS = 100_000

SQLITE_MIN = (3, 34, 0)

# PostgreSQL helpers: the strings said in a JSON value, an object's values and an array's items as
# SQLite's json_tree gives them (generated columns need IMMUTABLE functions; jsonb_path_query is).
# Keys naming a kind or a model are not what anyone said.
PG_FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION flowdesk_search_json_strings(value jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN value IS NULL THEN ''
    WHEN jsonb_typeof(value) = 'string' THEN value #>> '{}'
    ELSE coalesce((SELECT string_agg(s #>> '{}', ' ') FROM (
      SELECT s FROM jsonb_path_query(value,
        'strict $.** ? (@.type() == "object").keyvalue() ? (@.value.type() == "string" && !(@.key == "type" || @.key == "role" || @.key == "model")).value') AS s
      UNION ALL
      SELECT s FROM jsonb_path_query(value, 'strict $.** ? (@.type() == "array")[*] ? (@.type() == "string")') AS s
    ) AS said), '')
  END
$$;
CREATE OR REPLACE FUNCTION flowdesk_search_dialogue_text(value jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN value IS NULL THEN ''
    WHEN jsonb_typeof(value) = 'string' THEN value #>> '{}'
    ELSE coalesce((SELECT string_agg(s #>> '{}', ' ') FROM jsonb_path_query(value,
      'strict $.** ? (@.type() == "object" && exists(@.content)).content ? (@.type() == "string")') AS s), '')
  END
$$;
"""

# The same on SQLite, as expressions over a row (``{row}`` is NEW or the table's name).
SQLITE_JSON_STRINGS = (
    "coalesce((SELECT group_concat(value, ' ') FROM json_tree({col}) WHERE type = 'text'"
    " AND (key IS NULL OR key NOT IN ('type', 'role', 'model'))), '')"
)
SQLITE_DIALOGUE_TEXT = (
    "CASE WHEN json_type({col}) = 'text' THEN json_extract({col}, '$') ELSE coalesce((SELECT group_concat(value, ' ')"
    " FROM json_tree({col}) WHERE key = 'content' AND type = 'text'), '') END"
)


def pg_text(parts):
    """``parts``: (kind, column) with kind "text", "json" (any strings) or "dialogue"."""
    sql = []
    for kind, column in parts:
        if kind == "text":
            sql.append(f'coalesce("{column}", \'\')')
        elif kind == "json":
            sql.append(f'flowdesk_search_json_strings("{column}")')
        else:
            sql.append(f'flowdesk_search_dialogue_text("{column}")')
    return " || ' ' || ".join(sql)


def sqlite_text(parts, row):
    sql = []
    for kind, column in parts:
        col = f'{row}."{column}"'
        if kind == "text":
            sql.append(f"coalesce({col}, '')")
        elif kind == "json":
            sql.append(SQLITE_JSON_STRINGS.format(col=col))
        else:
            sql.append(SQLITE_DIALOGUE_TEXT.format(col=col))
    joined = " || ' ' || ".join(sql)
    return f"substr({joined}, 1, {MAX_CHARS})"


def text_column(parts):
    """The column the trigram index and the snippets read: the source's own when it is one text column."""
    return parts[0][1] if len(parts) == 1 and parts[0][0] == "text" else "search_text"


def postgresql_install(table, parts):
    text = pg_text(parts)
    column = text_column(parts)
    statements = ["CREATE EXTENSION IF NOT EXISTS pg_trgm", PG_FUNCTIONS]
    if column == "search_text":
        statements.append(
            f'ALTER TABLE "{table}" ADD COLUMN search_text text GENERATED ALWAYS AS (left({text}, {MAX_CHARS})) STORED'
        )
    statements += [
        f"ALTER TABLE \"{table}\" ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS "
        f"(to_tsvector('simple'::regconfig, left({text}, {MAX_CHARS}))) STORED",
        f'CREATE INDEX "{table}_search_tsv" ON "{table}" USING gin (search_tsv)',
        f'CREATE INDEX "{table}_search_trgm" ON "{table}" USING gin ("{column}" gin_trgm_ops)',
    ]
    return statements


def postgresql_uninstall(table, parts):
    statements = [
        f'DROP INDEX IF EXISTS "{table}_search_trgm"',
        f'DROP INDEX IF EXISTS "{table}_search_tsv"',
        f'ALTER TABLE "{table}" DROP COLUMN IF EXISTS search_tsv',
    ]
    if text_column(parts) == "search_text":
        statements.append(f'ALTER TABLE "{table}" DROP COLUMN IF EXISTS search_text')
    return statements


def sqlite_names(name):
    return f"flowdesk_search_{name}", f"flowdesk_search_{name}_fts"


def sqlite_install(name, table, pk, parts):
    if sqlite3.sqlite_version_info < SQLITE_MIN:
        raise RuntimeError(
            f"Flowdesk's search needs SQLite {'.'.join(map(str, SQLITE_MIN))} or newer (FTS5's trigram tokenizer); "
            f"this Python has {sqlite3.sqlite_version}."
        )
    doc, fts = sqlite_names(name)
    watched = ", ".join(f'"{column}"' for _, column in parts)
    return [
        # pk without a type: kept as the source stores it (an integer, or a uuid's hex text).
        f'CREATE TABLE "{doc}" (id INTEGER PRIMARY KEY, pk UNIQUE NOT NULL, body TEXT NOT NULL)',
        f"CREATE VIRTUAL TABLE \"{fts}\" USING fts5(body, content='{doc}', content_rowid='id', tokenize='trigram')",
        f'CREATE TRIGGER "{doc}_ai" AFTER INSERT ON "{doc}" BEGIN '
        f'INSERT INTO "{fts}"(rowid, body) VALUES (new.id, new.body); END',
        f'CREATE TRIGGER "{doc}_ad" AFTER DELETE ON "{doc}" BEGIN '
        f"INSERT INTO \"{fts}\"(\"{fts}\", rowid, body) VALUES ('delete', old.id, old.body); END",
        f'CREATE TRIGGER "{doc}_au" AFTER UPDATE ON "{doc}" BEGIN '
        f"INSERT INTO \"{fts}\"(\"{fts}\", rowid, body) VALUES ('delete', old.id, old.body); "
        f'INSERT INTO "{fts}"(rowid, body) VALUES (new.id, new.body); END',
        # The DELETE first: an INSERT OR REPLACE removes the row it replaces without a delete trigger.
        f'CREATE TRIGGER "{table}_search_ai" AFTER INSERT ON "{table}" BEGIN '
        f'DELETE FROM "{doc}" WHERE pk = new."{pk}"; '
        f'INSERT INTO "{doc}"(pk, body) VALUES (new."{pk}", {sqlite_text(parts, "new")}); END',
        f'CREATE TRIGGER "{table}_search_au" AFTER UPDATE OF "{pk}", {watched} ON "{table}" BEGIN '
        f'UPDATE "{doc}" SET pk = new."{pk}", body = {sqlite_text(parts, "new")} WHERE pk = old."{pk}"; END',
        f'CREATE TRIGGER "{table}_search_ad" AFTER DELETE ON "{table}" BEGIN '
        f'DELETE FROM "{doc}" WHERE pk = old."{pk}"; END',
        f'INSERT INTO "{doc}"(pk, body) SELECT "{pk}", {sqlite_text(parts, f'"{table}"')} FROM "{table}"',
    ]


def sqlite_uninstall(name, table):
    doc, fts = sqlite_names(name)
    return [
        *(f'DROP TRIGGER IF EXISTS "{table}_search_{when}"' for when in ("ai", "au", "ad")),
        f'DROP TABLE IF EXISTS "{fts}"',
        f'DROP TABLE IF EXISTS "{doc}"',
    ]


class InstallTextIndex(Operation):
    """A migration operation: the search index of one table, for the database at hand.

    ``parts`` lists the row's searchable text as (kind, column): "text" a text column, "json"
    the strings of a JSON column, "dialogue" the ``content`` strings of a dialogue item, nested
    items included. Nothing in Django's model state changes: the columns and tables are the
    database's own, never read or written by the ORM's models.
    """

    reduces_to_sql = True
    reversible = True

    def __init__(self, name, table, pk, parts):
        self.name, self.table, self.pk, self.parts = name, table, pk, [tuple(p) for p in parts]

    def deconstruct(self):
        return type(self).__qualname__, [], {"name": self.name, "table": self.table, "pk": self.pk, "parts": self.parts}

    def state_forwards(self, app_label, state):
        pass

    def _run(self, schema_editor, statements):
        for statement in statements:
            schema_editor.execute(statement, params=None)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            self._run(schema_editor, postgresql_install(self.table, self.parts))
        elif vendor == "sqlite":
            self._run(schema_editor, sqlite_install(self.name, self.table, self.pk, self.parts))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            self._run(schema_editor, postgresql_uninstall(self.table, self.parts))
        elif vendor == "sqlite":
            self._run(schema_editor, sqlite_uninstall(self.name, self.table))

    def describe(self):
        return f"Full-text search index of {self.table}"

    @property
    def migration_name_fragment(self):
        return f"search_{self.name}"
