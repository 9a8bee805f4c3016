from django.conf import settings

from flowdesk.db import routers

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ReplicaMiddleware:
    """The request's database route (flowdesk.db.routers): safe requests may read from a replica;
    after a key's write, or a successful unsafe request, the key's reads stay on the primary for
    FLOWDESK_REPLICA_STICKY_SECONDS. Nothing to do without DATABASE_REPLICA_URLS."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not settings.FLOWDESK_DATABASE_REPLICAS:
            return self.get_response(request)
        safe = request.method in SAFE_METHODS
        route, token = routers.begin(safe)
        try:
            response = self.get_response(request)
            if (
                response.status_code == 503
                and route.replica not in (None, routers.PRIMARY)
                and routers.broken(route.replica)
            ):
                # The replica went away under this (safe) request: it is skipped from now on and the
                # request is answered again from the primary, so the client sees no error.
                routers.mark_down(route.replica)
                response.close()
                routers.end(token)
                route, token = routers.begin(False)
                response = self.get_response(request)
            if route.key_id is not None and (route.wrote or (not safe and response.status_code < 400)):
                routers.mark_sticky(route.key_id)
            return response
        finally:
            routers.end(token)
