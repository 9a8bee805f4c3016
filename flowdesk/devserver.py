"""Django's development server (runserver, the tests' live server), told apart from a client's header.

wsgiref fills in ``CONTENT_TYPE: text/plain`` when a request has no Content-Type header, so a JSON
body sent without one (as the TrueState SDK sends it) would look like text. The raw header is only
visible in the request handler: drop the made-up value there, as gunicorn and uvicorn never set it.
"""

from django.core.servers import basehttp

_get_environ = basehttp.WSGIRequestHandler.get_environ


def _get_environ_without_default_content_type(self):
    environ = _get_environ(self)
    if self.headers.get("Content-Type") is None:
        environ.pop("CONTENT_TYPE", None)
    return environ


def install():
    basehttp.WSGIRequestHandler.get_environ = _get_environ_without_default_content_type
