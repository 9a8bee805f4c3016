"""/admin/search/?q=...: the hits of every family on one page, newest first."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from flowdesk.search.query import SearchedText, TextMatch, words
from flowdesk.search.snippet import snippet
from flowdesk.search.sources import all_sources

PAGE_SIZE = 20
# Each family's query reads up to page x size rows: deep pages ask for a narrower search.
MAX_PAGE = 50


def _page(value):
    try:
        page = int(value or 1)
    except ValueError:
        raise ValidationError("The page is a number.") from None
    if not 1 <= page <= MAX_PAGE:
        raise ValidationError(f"Pages go from 1 to {MAX_PAGE}; narrow the search to see older hits.")
    return page


def family_hits(request, source, found, limit):
    """The newest ``limit`` hits of one family this user may see: one query."""
    model = source.model_class
    model_admin = admin.site._registry.get(model)
    if model_admin is None or not model_admin.has_view_permission(request):
        return []
    queryset = model_admin.scope_queryset(request, model._default_manager.all())
    queryset = (
        queryset.filter(TextMatch(source, found))
        .annotate(searched_text=SearchedText(source))
        .select_related(*source.select_related)
        .defer(*(f.name for f in model._meta.concrete_fields if f.name in source.heavy))
        .order_by(*source.order)
    )
    return [source.describe(row) for row in queryset[:limit]]


def search(request):
    query = request.GET.get("q", "")
    error, hits, has_next, page = None, [], False, 1
    try:
        page = _page(request.GET.get("page"))
        found = words(query)
    except ValidationError as exc:
        error, found = exc.messages[0], []
    if found:
        offset = (page - 1) * PAGE_SIZE
        for source in all_sources():
            for hit in family_hits(request, source, found, offset + PAGE_SIZE + 1):
                hit["snippet"] = snippet(hit.pop("text"), found)
                hits.append(hit)
        hits.sort(key=lambda hit: hit["time"], reverse=True)
        has_next = len(hits) > offset + PAGE_SIZE
        hits = hits[offset:offset + PAGE_SIZE]
    context = {
        **admin.site.each_context(request),
        "title": f"Search: {query.strip()}" if query.strip() else "Search what was said",
        "query": query,
        "error": error,
        "hits": hits,
        "page": page,
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if has_next and page < MAX_PAGE else None,
        "searched": bool(found),
        "families": [source.family for source in all_sources()],
    }
    return TemplateResponse(request, "admin/flowdesk_search.html", context, status=400 if error else 200)
