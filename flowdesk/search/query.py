"""What a search term means, as SQL over the index of flowdesk/search/ddl.py.

A row matches when every word of the term is in its text, case-insensitively: a word of three
characters or more anywhere inside it (PostgreSQL: pg_trgm's GIN index; SQLite: FTS5's trigram
tokenizer), so Chinese or Japanese text without spaces is found by any phrase inside it. A
shorter word, which trigrams cannot narrow down, as a word or a word's start on PostgreSQL (the
``simple`` tsvector's GIN index; in CJK, anywhere, row by row), anywhere on SQLite (row by row).
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
    # Each word quoted (no operator in it is read as one) and matched as a word's start.
    return " & ".join("'" + w.replace("\\", "\\\\").replace("'", "''") + "':*" for w in found)


def _word_start(word):
    """PostgreSQL looks for ``word`` as a word's start (too short for trigrams, a word of its own)."""
    return len(word) < TRIGRAM_MIN and word.isascii() and any(c.isalnum() for c in word)


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
        # Each word inside the text from the trigram index. No tsvector beside it for those: its
        # estimates (a rare word taken for one row in a thousand) made the planner walk the whole
        # list in time order instead of the index (1.5 s for a rare word at a million rows).
        conditions, params = [], []
        short = [w for w in self.found if _word_start(w)]
        for word in self.found:
            if word not in short:
                conditions.append(f"{table}.{column} ILIKE %s")
                params.append(like_pattern(word))
        # A shorter word, too short for trigrams, as a word's start from the tsvector (CJK text
        # has no word starts and punctuation is no word: those are looked for inside the text).
        if short:
            conditions.append(f"{table}.search_tsv @@ to_tsquery('simple'::regconfig, %s)")
            params.append(tsquery_text(short))
        return "(" + " AND ".join(conditions) + ")", params

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
