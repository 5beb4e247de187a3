"""Where ``manycore serve`` listens, and with which TLS certificate, from its settings."""

from __future__ import annotations

import ssl

from ..registry import ServerSpec, server
from .settings import RunSettings
from .usage import UsageError

__all__ = ["server_spec", "tls_context"]


def server_spec(settings: RunSettings) -> ServerSpec:
    """``--host/--port``, ``--uds`` or ``--fd``, with TLS when a certificate is given."""
    return server(
        settings.host,
        settings.port,
        uds=settings.uds,
        fd=settings.fd,
        ssl=tls_context(settings) if settings.tls else None,
    )


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
