"""gunicorn settings for Flowdesk: `gunicorn -c config/gunicorn.py config.wsgi`."""

import multiprocessing
import os

bind = os.environ.get("FLOWDESK_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
# Flowdesk refuses an over-long query itself, in the API family's own error body (see
# FLOWDESK_MAX_QUERY_BYTES); gunicorn's default would answer a bare HTML 414 first.
limit_request_line = 0
# Likewise for headers (FLOWDESK_MAX_HEADER_BYTES, FLOWDESK_MAX_HEADERS, at most 1 MiB and 1,000):
# gunicorn only guards its own memory, past anything Flowdesk would accept.
limit_request_field_size = 1024 * 1024 + 8192
limit_request_fields = 1100
accesslog = "-" if os.environ.get("FLOWDESK_ACCESS_LOG") else None
# A sync worker is killed past this many seconds: a live flow's whole `sessions` body is streamed
# (100,000 sessions take about 40 s), so the default 30 would cut it off.
timeout = int(os.environ.get("FLOWDESK_WORKER_TIMEOUT", "300"))
