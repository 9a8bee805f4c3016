"""Where a webhook may be sent, and the one POST that sends it.

Only public addresses are targets (unless ``settings.WEBHOOK_ALLOW_PRIVATE``): a webhook URL is
chosen by a tenant, and must not reach the machines beside Flowdesk (its database, a cloud's
metadata service, the loopback admin). The host is resolved and every address checked when the
endpoint is created and again at each delivery, and the request goes to the address that was
checked, so a name that resolves differently in between cannot slip through.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

ALLOW_PRIVATE_HINT = "set FLOWDESK_WEBHOOK_ALLOW_PRIVATE=true to allow private targets"
RESPONSE_KEPT = 1000  # characters of the receiver's answer kept in the delivery log


class TargetRefused(Exception):
    """The URL is not one Flowdesk sends webhooks to."""


@dataclass
class Target:
    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal, without brackets
    port: int
    path: str  # path and query
    addresses: list  # [(family, sockaddr)], every one checked


def parse(url):
    """(scheme, ascii host, port, path) of an http(s) URL, or TargetRefused saying what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise TargetRefused("Enter a URL.")
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise TargetRefused(f"{url!r} is not an http:// or https:// URL.") from None
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("Put no user name or password in the URL; the signature authenticates Flowdesk.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TargetRefused(f"{url!r} has an invalid port.") from None
    host = parts.hostname or ""
    try:
        host = host.encode("idna").decode("ascii") if not _is_ip(host) else host
    except UnicodeError:
        raise TargetRefused(f"{parts.hostname!r} is not a valid host name.") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port, path


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def refusal(address):
    """Why ``address`` (an ipaddress object) is not a public target, or None if it is one."""
    if address.version == 6:
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return refusal(embedded)
        if address.teredo is not None:
            return refusal(address.teredo[1])
    for test, what in (
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_multicast", "a multicast"),
        ("is_unspecified", "an unspecified"),
        ("is_private", "a private"),
        ("is_reserved", "a reserved"),
    ):
        if getattr(address, test):
            return f"{what} address"
    if not address.is_global:
        return "not a public address"
    return None


def resolve(host, port):
    """Every address ``host`` resolves to, as [(family, sockaddr)]."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"The host {host} does not resolve ({exc}).") from None
    addresses = []
    for family, _, _, _, sockaddr in infos:
        if (family, sockaddr) not in addresses:
            addresses.append((family, sockaddr))
    if not addresses:
        raise TargetRefused(f"The host {host} does not resolve.")
    return addresses


def check(url, *, allow_private=None):
    """The URL's Target (resolved, every address checked), or TargetRefused saying why not."""
    scheme, host, port, path = parse(url)
    if allow_private is None:
        allow_private = settings.WEBHOOK_ALLOW_PRIVATE
    addresses = resolve(host, port)
    if not allow_private:
        for _, sockaddr in addresses:
            address = ipaddress.ip_address(sockaddr[0].split("%")[0])
            reason = refusal(address)
            if reason:
                shown = host if _is_ip(host) else f"{host} ({address})"
                raise TargetRefused(f"{shown} is {reason}: webhooks go to public addresses only ({ALLOW_PRIVATE_HINT}).")
    return Target(scheme, host, port, path, addresses)


def check_at_creation(url):
    """For forms and commands: a refused URL is a ValidationError. A name that does not resolve is
    refused too (a typo); with private targets allowed (tests, a private network) it is not looked up."""
    try:
        if settings.WEBHOOK_ALLOW_PRIVATE:
            parse(url)
        else:
            check(url)
    except TargetRefused as exc:
        raise ValidationError(str(exc), code="refused_target") from None


# --- sending ------------------------------------------------------------------------------------


@dataclass
class Answer:
    address: str = ""
    status: int | None = None
    body: str = ""
    error: str = ""
    duration_ms: int = 0
    retry_after: float | None = None  # seconds, from a Retry-After header
    refused: bool = False  # nothing was sent: the target is not allowed

    @property
    def ok(self):
        return self.status is not None and 200 <= self.status < 300


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address already checked instead of resolving the host name again."""

    def __init__(self, host, port, *, family, sockaddr, timeout):
        super().__init__(host, port, timeout=timeout)
        self._family, self._sockaddr = family, sockaddr

    def _open_socket(self):
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._sockaddr)
        except BaseException:
            sock.close()
            raise
        return sock

    def connect(self):
        self.sock = self._open_socket()


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, *, family, sockaddr, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._family, self._sockaddr = family, sockaddr

    _open_socket = _PinnedHTTPConnection._open_socket

    def connect(self):
        # The certificate is checked against the host name, whatever address was dialled.
        self.sock = self._context.wrap_socket(self._open_socket(), server_hostname=self.host)


def post(url, body, headers, *, timeout):
    """POST ``body`` (bytes) to ``url``: an Answer, never an exception. No redirect is followed."""
    started = time.monotonic()
    answer = Answer()
    try:
        target = check(url)
    except TargetRefused as exc:
        answer.error, answer.refused = str(exc), True
        return answer
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    errors = []
    for family, sockaddr in target.addresses:
        answer.address = sockaddr[0]
        connection = connection_class(target.host, target.port, family=family, sockaddr=sockaddr, timeout=timeout)
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            response = connection.getresponse()
            answer.status = response.status
            answer.body = response.read(RESPONSE_KEPT * 4).decode("utf-8", "replace")[:RESPONSE_KEPT]
            answer.retry_after = _retry_after(response.getheader("Retry-After"))
            if not answer.ok:
                answer.error = f"HTTP {response.status} {response.reason}".strip()
            break
        except (OSError, http.client.HTTPException) as exc:
            if answer.status is not None:
                break  # the receiver answered; its body was cut short
            errors.append(_describe(exc))
            if not isinstance(exc, ConnectionRefusedError | ConnectionResetError) or len(errors) == len(target.addresses):
                answer.error = "; ".join(errors)
                break
            # Refused on this address: try the host's next one (e.g. IPv4 after IPv6), as clients do.
        finally:
            connection.close()
    answer.duration_ms = int((time.monotonic() - started) * 1000)
    return answer


def _describe(exc):
    if isinstance(exc, TimeoutError | socket.timeout):
        return "Timed out"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def _retry_after(value):
    if value and value.strip().isdigit():
        return float(value.strip())
    return None
