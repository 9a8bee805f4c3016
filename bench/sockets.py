"""Loopback sockets for the benchmark's servers and counting proxy, and for the tests' servers and
proxy (tests/served.py): the standard library only."""

import socket


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pipe(source, sink, seen=None):
    """Forward what ``source`` sends to ``sink`` (``seen(data)`` first, chunk by chunk) until either
    side ends or fails; then end both, so that the pipe of the other direction ends too."""
    try:
        while data := source.recv(65536):
            if seen is not None:
                seen(data)
            sink.sendall(data)
    except OSError:
        pass
    finally:
        end(source)
        end(sink)


def end(sock):
    """Shut ``sock`` down, so that its peer and a thread blocked on it see the end at once, and close it."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # ended already, or never connected
    sock.close()
