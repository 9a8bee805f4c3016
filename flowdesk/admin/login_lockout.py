"""The admin login's lock-out (django-axes, settings AXES_*): the client address and the log line."""

import logging

from django.conf import settings

logger = logging.getLogger("flowdesk.security")


def client_ip(request):
    """REMOTE_ADDR, or behind FLOWDESK_PROXY_COUNT proxies the address the outermost one saw.

    Only the proxies' own additions to X-Forwarded-For are trusted: a client can put anything
    at its start.
    """
    remote = request.META.get("REMOTE_ADDR")
    count = settings.FLOWDESK_PROXY_COUNT
    if not count:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    return forwarded[-count] if len(forwarded) >= count else remote


def log_lockout(sender, request, username, ip_address, **kwargs):
    logger.warning(
        "Admin login locked out after %s failures: username=%r address=%s (lift with "
        "`manage.py axes_reset_username` or `axes_reset_ip`)",
        settings.AXES_FAILURE_LIMIT, username, ip_address,
    )


def connect_signals():
    from axes.signals import user_locked_out

    user_locked_out.connect(log_lockout, dispatch_uid="flowdesk_login_locked_out")
