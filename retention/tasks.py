"""The daily run of apply_retention (config/celery.py's beat schedule)."""

import io

from django.core.management import call_command

from config.celery import app


@app.task(name="retention.apply_retention", ignore_result=True)
def apply_retention():
    out = io.StringIO()
    call_command("apply_retention", "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()  # the summary line, in the worker's log
