"""Search what was said (issue #18) on PostgreSQL: the first page of /admin/search/ over
1,000,000 chat messages and 1,000,000 dialogue items, for a common word, a rare one and a
Japanese phrase. Standalone: ``.venv/bin/python -m bench.search [--messages N --items N]``.

Fills a database of its own (bench/generate.py's chat and user sessions, COPY), with the search
indexes dropped during the load and built after it (timed), then times the whole page as a
superuser sees it (the four families' queries and the template) and each family's query alone,
and writes a "Search" section into bench/RESULTS.md (replacing the one a previous run wrote).
"""

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECTION = "## Search what was said (issue #18, bench/search.py)"
TARGET_MS = 50
COMMON, RARE, JAPANESE = "how", "zanzibar", "東京タワー"
# Japanese sentences without spaces; one in JP_EVERY rows is one, one in TOWER_EVERY says 東京タワー.
SENTENCES = [
    "昨日から請求書の金額が間違っているようなので確認してください{n}",
    "ログインできません。パスワードを再設定する方法を教えてください{n}",
    "来週の会議の資料を共有していただけますか{n}",
]
TOWER = "先週の週末に家族で東京タワーの展望台へ行きました{n}"
JP_EVERY, TOWER_EVERY, RARE_ROWS = 100, 5_000, 5


def parse_args(argv):
    from bench.run import bench_parser

    parser = bench_parser(__doc__, "flowdesk_bench_search", no_write=True)
    parser.add_argument("--messages", type=int, default=1_000_000, help="chat messages (5 a chat)")
    parser.add_argument("--items", type=int, default=1_000_000, help="dialogue items (20 a user session)")
    parser.add_argument("--runs", type=int, default=9, help="measured runs per figure")
    args = parser.parse_args(argv)
    if args.messages < 5 or args.items < 20:
        parser.error("--messages needs at least 5 and --items at least 20")
    return args


def setup_django(args):
    from bench.run import own_database

    own_database(args.server, args.database)


SEARCH_INDEXES = {
    "chat_chatmessage": ["chat_chatmessage_search_tsv", "chat_chatmessage_search_trgm"],
    "sessions_app_dialogueitem": ["sessions_app_dialogueitem_search_tsv", "sessions_app_dialogueitem_search_trgm"],
}


def fill(args, log):
    """Returns (seconds loading, seconds building the search indexes, index sizes)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from accounts.models import Organization
    from bench.generate import generate_chat, generate_user_sessions

    with connection.cursor() as cursor:
        definitions = {}
        for names in SEARCH_INDEXES.values():
            for name in names:
                cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
                definitions[name] = cursor.fetchone()[0]
                cursor.execute(f'DROP INDEX "{name}"')
    org = Organization.objects.create(pk="org_benchSearch0001", name="Bench search")
    other = Organization.objects.create(pk="org_benchSearch0002", name="Other tenant")
    user = get_user_model().objects.create_user("bench_search")
    conn = connection.connection
    start = time.perf_counter()
    half = args.messages // 10  # two organizations' chats, 5 messages each
    generate_chat(conn, org.pk, sessions=half, messages_per_session=5)
    generate_chat(conn, other.pk, sessions=args.messages // 5 - half, messages_per_session=5, seed=12)
    generate_user_sessions(conn, user.pk, org.pk, sessions=args.items // 20, dialogue_items=20)
    loaded = time.perf_counter() - start
    log(f"loaded {args.messages:,} messages and {args.items:,} dialogue items in {loaded:.0f} s")
    with connection.cursor() as cursor:
        # What was said in other words: Japanese in one row of JP_EVERY, a rare word in a few.
        for table, column, value in (("chat_chatmessage", "content", "%s"), ("sessions_app_dialogueitem", "content",
                                                                             "to_jsonb(%s::text)")):
            cursor.execute(f"SELECT count(*) FROM {table}")
            total = cursor.fetchone()[0]
            for k, template in enumerate(SENTENCES):
                cursor.execute(
                    f"UPDATE {table} SET {column} = {value} WHERE id IN (SELECT id FROM {table} ORDER BY md5(id::text || %s) "
                    f"LIMIT %s)",
                    [template.format(n=k), str(k), total // JP_EVERY // len(SENTENCES)],
                )
            cursor.execute(
                f"UPDATE {table} SET {column} = {value} WHERE id IN (SELECT id FROM {table} ORDER BY md5(id::text || 't') "
                f"LIMIT %s)",
                [TOWER.format(n=""), max(1, total // TOWER_EVERY)],
            )
            cursor.execute(
                f"UPDATE {table} SET {column} = {value} WHERE id IN (SELECT id FROM {table} ORDER BY md5(id::text || 'r') "
                f"LIMIT %s)",
                [f"The customer from {RARE} asked twice", RARE_ROWS],
            )
        start = time.perf_counter()
        for definition in definitions.values():
            cursor.execute(definition)
        built = time.perf_counter() - start
        for table in SEARCH_INDEXES:
            cursor.execute(f"VACUUM ANALYZE {table}")
        sizes = {}
        for name in definitions:
            cursor.execute("SELECT pg_size_pretty(pg_relation_size(%s::regclass))", [name])
            sizes[name] = cursor.fetchone()[0]
    log(f"search indexes built in {built:.0f} s: {sizes}")
    return loaded, built, sizes


def measure(args, log):
    from django.contrib.auth import get_user_model
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.measure import timed
    from flowdesk.search.query import TextMatch
    from flowdesk.search.sources import all_sources

    log(f"load average before measuring: {os.getloadavg()[0]:.1f}")
    args.load = os.getloadavg()[0]
    admin = get_user_model().objects.create_superuser("bench_root", "root@example.com", "pw")
    client = Client()
    client.force_login(admin)
    rows = []
    for label, term in (("common word", COMMON), ("rare word", RARE), ("Japanese phrase", JAPANESE)):
        def page(term=term):
            response = client.get("/admin/search/", {"q": term})
            assert response.status_code == 200, response.status_code
            return response.content.decode().count('<tr class="hit ')

        timing, hits = timed(page, runs=args.runs)
        with CaptureQueriesContext(connection) as captured:
            page()
        queries = len(captured)
        counts = {}
        for source in all_sources():
            counts[source.name] = source.model_class._default_manager.filter(TextMatch(source, [term])).count()
        per_family = []
        for source in all_sources():
            if source.name not in ("chat", "dialogue"):
                continue
            sql = next(q["sql"] for q in captured.captured_queries if source.model_class._meta.db_table in q["sql"]
                       and "search" in q["sql"])
            one, _ = timed(lambda sql=sql: _run(connection, sql), runs=args.runs)
            per_family.append(f"{source.name} {one.ms()}")
        lists = []
        for url in ("/admin/chat/chatsession/", "/admin/sessions_app/usersession/"):
            def changelist(url=url, term=term):
                response = client.get(url, {"q": term})
                assert response.status_code == 200, response.status_code

            one, _ = timed(changelist, runs=max(3, args.runs // 3))
            lists.append(f"{url.split('/')[3]} {one.ms()}")
        reset_queries()
        found = "found" if hits else "NOT FOUND"
        rows.append((label, f"`{term}`", f"{counts['chat']:,} / {counts['dialogue']:,}", hits, timing.ms(),
                     "; ".join(per_family), "; ".join(lists), "yes" if timing.median * 1000 < TARGET_MS else "**no**", found))
        log(f"{label} {term!r}: {timing.ms()} ({hits} hits, {queries} queries) {per_family} {lists}")
    return rows


def _run(connection, sql):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def section_text(args, loaded, built, sizes, rows):
    import platform

    from bench.run import machine, table_row

    lines = [
        SECTION, "",
        f"- {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {machine()}, load average {args.load:.1f} when measuring (the machine is shared); `python -m bench.search --messages {args.messages} --items {args.items}` "
        f"({platform.python_version()})",
        f"- {args.messages:,} chat messages (two organizations) and {args.items:,} dialogue items, loaded with COPY "
        f"in {loaded:.0f} s; one row in "
        f"{JP_EVERY} Japanese without spaces, one in {TOWER_EVERY:,} saying {JAPANESE}, {RARE_ROWS} saying {RARE}",
        f"- the search indexes (tsvector GIN and pg_trgm GIN, both tables) built after the load in {built:.0f} s; "
        f"sizes: " + ", ".join(f"{name} {size}" for name, size in sizes.items()),
        f"- a figure: the whole first page of `/admin/search/?q=...` for a superuser (session, user, one query per "
        f"family, the template), median of {args.runs} runs after 2 warm-up ones; beside it each large family's "
        f"query alone, and the chat and user session lists searched for the same term (the changelist page). "
        f"Target: the page under {TARGET_MS} ms.",
        "",
        "| search | term | rows matching (chat / dialogue) | hits on the page | first page | the family's query | "
        f"the session list's search box | page under {TARGET_MS} ms | found |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(table_row(row) for row in rows),
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    from bench.run import log, put_section

    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_django(args)
    loaded, built, sizes = fill(args, log)
    rows = measure(args, log)
    put_section(args, SECTION, section_text(args, loaded, built, sizes, rows), "search")


if __name__ == "__main__":
    main()
