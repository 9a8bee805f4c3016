"""gunicorn settings for Flowdesk: `gunicorn -c config/gunicorn.py config.wsgi`."""

import multiprocessing
import os

bind = os.environ.get("FLOWDESK_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
# Flowdesk refuses an over-long query itself, in the API family's own error body (see
# FLOWDESK_MAX_QUERY_BYTES); gunicorn's default would answer a bare HTML 414 first.
limit_request_line = 0
accesslog = "-" if os.environ.get("FLOWDESK_ACCESS_LOG") else None
