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
            if response.status_code == 503 and routers.failed_on_replica(route):
                # The replica failed under this read-only request (it went away, or cancelled the
                # query replaying a conflicting change): answered again from the primary, so the
                # client sees no error. A replica that went away is skipped from now on.
                if routers.broken(route.replica):
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
