"""Search what was said: the database-kept index (ddl.py), what a term matches (query.py), the
families' texts (sources.py, registered by each app's ``search.py``), the changelists' search
boxes (admin.py) and /admin/search/ (views.py)."""
