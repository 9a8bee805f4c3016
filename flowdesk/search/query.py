"""What a search term means, as SQL over the index of flowdesk/search/ddl.py.

A row matches when every word of the term is somewhere in its text, case-insensitively: Chinese
or Japanese text without spaces is found by any phrase inside it. PostgreSQL answers from its
GIN indexes: the tsvector (``simple`` configuration) for whole words, pg_trgm for a word's start
or a word inside the text; SQLite from FTS5's trigram tokenizer. Trigrams need three
characters: a word of one or two is checked row by row, within what the longer words found (a
term of short words alone reads the whole table).
"""

from django.core.exceptions import ValidationError
from django.db.models import BooleanField, Expression, F, TextField

from flowdesk.search.ddl import sqlite_names, text_column

MAX_TERM_CHARS = 200
MAX_WORDS = 8
# Trigram indexes need three characters to narrow anything down.
TRIGRAM_MIN = 3


def words(term):
    """The term's words, or a ValidationError the page shows."""
    term = (term or "").strip()
    if len(term) > MAX_TERM_CHARS:
        raise ValidationError(f"Search for at most {MAX_TERM_CHARS} characters.")
    if "\x00" in term:
        raise ValidationError("Null characters are not allowed.")
    found = term.split()
    if len(found) > MAX_WORDS:
        raise ValidationError(f"Search for at most {MAX_WORDS} words.")
    return found


def tsquery_text(found):
    # Each word quoted, so that no operator in it is read as one.
    return " & ".join("'" + w.replace("\\", "\\\\").replace("'", "''") + "'" for w in found)


def like_pattern(word):
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def fts5_phrase(word):
    return '"' + word.replace('"', '""') + '"'


class _OnSourceRow(Expression):
    """An expression over the index of ``source``'s row whose primary key is ``anchor``."""

    def __init__(self, source, anchor="pk"):
        super().__init__()
        self.source = source
        self.anchor = F(anchor) if isinstance(anchor, str) else anchor

    def get_source_expressions(self):
        return [self.anchor]

    def set_source_expressions(self, exprs):
        (self.anchor,) = exprs

    def _alias(self, compiler, connection):
        # The row's table alias as this query names it (a subquery relabels it U0, U1, ...).
        return compiler.quote_name(self.anchor.alias)

    def __repr__(self):
        return f"{type(self).__name__}({self.source.name!r}, {self.anchor!r})"


class TextMatch(_OnSourceRow):
    """True for the rows whose text holds every word of ``found`` (see the module's docstring)."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, source, found, anchor="pk"):
        super().__init__(source, anchor)
        self.found = list(found)

    def as_postgresql(self, compiler, connection):
        table = self._alias(compiler, connection)
        column = connection.ops.quote_name(text_column(self.source.parts))
        # Whole words from the tsvector, anything else (a word's start, inside a word, CJK) from the
        # text's trigrams. Not a prefix tsquery: it has no statistics, and the planner, taking a rare
        # word for a common one, walked the whole list in time order instead of the index.
        likes = " AND ".join(f"{table}.{column} ILIKE %s" for _ in self.found)
        sql = f"({table}.search_tsv @@ to_tsquery('simple'::regconfig, %s) OR ({likes}))"
        return sql, [tsquery_text(self.found), *(like_pattern(w) for w in self.found)]

    def as_sqlite(self, compiler, connection):
        doc, fts = sqlite_names(self.source.name)
        anchor, params = compiler.compile(self.anchor)
        long = [w for w in self.found if len(w) >= TRIGRAM_MIN]
        short = [w for w in self.found if len(w) < TRIGRAM_MIN]
        conditions, extra = [], []
        if long:
            conditions.append(f'd.id IN (SELECT rowid FROM "{fts}" WHERE "{fts}" MATCH %s)')
            extra.append(" AND ".join(fts5_phrase(w) for w in long))
        for word in short:  # too short for trigrams: a scan of the documents
            conditions.append("d.body LIKE %s ESCAPE '\\'")
            extra.append(like_pattern(word))
        return f'{anchor} IN (SELECT d.pk FROM "{doc}" d WHERE {" AND ".join(conditions)})', [*params, *extra]

    def as_sql(self, compiler, connection):
        raise NotImplementedError(f"Search supports PostgreSQL and SQLite, not {connection.vendor}.")


class SearchedText(_OnSourceRow):
    """The row's indexed text, for snippets."""

    output_field = TextField()

    def as_postgresql(self, compiler, connection):
        column = connection.ops.quote_name(text_column(self.source.parts))
        return f"{self._alias(compiler, connection)}.{column}", []

    def as_sqlite(self, compiler, connection):
        doc, _ = sqlite_names(self.source.name)
        anchor, params = compiler.compile(self.anchor)
        return f'(SELECT d.body FROM "{doc}" d WHERE d.pk = {anchor})', params

    def as_sql(self, compiler, connection):
        raise NotImplementedError(f"Search supports PostgreSQL and SQLite, not {connection.vendor}.")
