"""Where ``manycore serve`` listens, and with which TLS certificate, from its settings."""

from __future__ import annotations

import logging
import os
import ssl

from ..registry import ServerSpec, server
from .settings import RunSettings
from .usage import UsageError

__all__ = ["SYSTEMD_FIRST_SOCKET", "server_spec", "systemd_socket", "tls_context"]

log = logging.getLogger("manycore.commands")

SYSTEMD_FIRST_SOCKET = 3
"""The descriptor of the first socket systemd passes (``SD_LISTEN_FDS_START``)."""


def server_spec(settings: RunSettings) -> ServerSpec:
    """``--uds``, ``--fd``, systemd's socket, or ``--host/--port``; TLS with a certificate."""
    fd = settings.fd
    if fd is None and settings.uds is None:
        fd = systemd_socket()
    return server(
        settings.host,
        settings.port,
        uds=settings.uds,
        fd=fd,
        ssl=tls_context(settings) if settings.tls else None,
    )


def systemd_socket() -> int | None:
    """The first socket systemd passed to this process (socket activation), or None.

    As ``sd_listen_fds(3)``: only when ``LISTEN_PID`` names this process, and the
    variables are removed so that no process started later takes them as its own.
    """
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    try:
        count = int(os.environ.get("LISTEN_FDS", ""))
    except ValueError:
        return None
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    if count < 1:
        return None
    if count > 1:
        log.warning(
            "systemd passed %d sockets; serving the first (descriptor %d)",
            count,
            SYSTEMD_FIRST_SOCKET,
        )
    return SYSTEMD_FIRST_SOCKET


def tls_context(settings: RunSettings) -> ssl.SSLContext:
    """A server context: the certificate chain, and client certificates required if CAs are given.

    Loaded once, in the main context, so a wrong file or password is one line before
    any worker starts; every worker wraps the connections it accepts with it.
    """
    assert settings.ssl_certfile is not None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(
            settings.ssl_certfile, settings.ssl_keyfile, settings.ssl_keyfile_password
        )
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(
            f"--ssl-certfile {settings.ssl_certfile}"
            + (f" --ssl-keyfile {settings.ssl_keyfile}" if settings.ssl_keyfile else "")
            + f": cannot load the certificate and its key ({_reason(exc)}); give a PEM "
            "certificate chain and its private key (and --ssl-keyfile-password if encrypted)"
        ) from None
    if settings.ssl_ca_certs:
        try:
            context.load_verify_locations(settings.ssl_ca_certs)
        except (ssl.SSLError, OSError) as exc:
            raise UsageError(
                f"--ssl-ca-certs {settings.ssl_ca_certs}: cannot load CA certificates "
                f"({_reason(exc)}); give PEM certificates"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
