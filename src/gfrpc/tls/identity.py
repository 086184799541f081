"""Who the TLS peer is, whether it may connect, and why a handshake failed (in one line).

After OpenSSL accepted the peer's chain, GlusterFS 10.3 (reference §2.3, §2.5) still requires
a peer certificate, takes its subject commonName (the first CN, as ``X509_NAME_get_text_by_NID``
does) as the peer's identity, and a brick matches that name against ``auth.ssl-allow``: a
comma/space separated list of ``fnmatch`` globs (``*`` allows everyone).

``ssl-cert-depth`` is OpenSSL's verify depth, which CPython cannot set. :func:`check_depth`
applies the same limit to the chain OpenSSL verified, read after the handshake from the
private ``_sslobj.get_verified_chain()`` of CPython 3.10-3.12 (public ``get_verified_chain()``
from 3.13). OpenSSL's rule, measured on OpenSSL 3.0 with ``openssl verify -verify_depth``:
depth N allows the peer certificate, at most N intermediate CA certificates, and the trust
anchor, i.e. ``len(chain) - 2 <= N``. So depth 0 = the peer certificate is issued directly by
(or is itself) a certificate in ``ssl-ca-list``; the GlusterFS default 1 also accepts one
intermediate CA between them.
"""

from __future__ import annotations

import fnmatch
import re
import ssl
from collections.abc import Iterable
from typing import Any

from gfrpc.errors import TLSError
from gfrpc.tls.options import DEFAULT_CERT_DEPTH

HANDSHAKE_FAILED = "TLS handshake failed"

# OpenSSL X509_V_ERR_* codes -> what a user should read.
_UNKNOWN_CA = "unknown CA"
_VERIFY_PHRASES: dict[int, str] = {
    2: _UNKNOWN_CA,  # unable to get issuer certificate
    3: "no CRL for an issuer in ssl-crl-path",  # unable to get certificate CRL
    9: "certificate not yet valid",
    10: "certificate expired",
    11: "CRL not yet valid",
    12: "CRL expired",
    18: _UNKNOWN_CA,  # self-signed certificate not in the CA list
    19: _UNKNOWN_CA,  # self-signed certificate in chain
    20: _UNKNOWN_CA,  # unable to get local issuer certificate
    21: _UNKNOWN_CA,  # unable to verify the first certificate
    22: "certificate chain too long for ssl-cert-depth",
    23: "certificate revoked",
    24: "invalid CA certificate",
    26: "certificate not allowed for this purpose (extended key usage)",
}

# OpenSSL SSL_R_* reasons (as Python reports them) -> one-line descriptions.
_NOT_TLS = "wrong version number (is the peer using TLS?)"
_REASON_PHRASES: dict[str, str] = {
    "TLSV1_ALERT_UNKNOWN_CA": "unknown CA (the peer does not trust our certificate's issuer)",
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "peer did not send a certificate",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "peer requires a certificate and we sent none",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "peer says our certificate is revoked",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "peer says our certificate expired",
    "SSLV3_ALERT_BAD_CERTIFICATE": "peer rejected our certificate (bad certificate)",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "peer rejected our certificate (unsupported)",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "peer rejected our certificate (certificate unknown)",
    "WRONG_VERSION_NUMBER": _NOT_TLS,
    "HTTP_REQUEST": _NOT_TLS,
    "PACKET_LENGTH_TOO_LONG": _NOT_TLS,
    "RECORD_LAYER_FAILURE": _NOT_TLS,
    "UNSUPPORTED_PROTOCOL": "unsupported protocol version (gfrpc needs TLS 1.2 or newer)",
    "TLSV1_ALERT_PROTOCOL_VERSION": "peer refused our protocol version (gfrpc needs TLS >= 1.2)",
    "NO_PROTOCOLS_AVAILABLE": "no TLS protocol version available",
    "NO_SHARED_CIPHER": "no shared cipher (check ssl-cipher-list and ssl-ec-curve)",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "peer found no acceptable parameters (cipher, curve)",
    "NO_SUITABLE_KEY_SHARE": "no shared key-exchange group (check ssl-ec-curve)",
    "TLSV1_ALERT_DECRYPT_ERROR": "decrypt error (private key does not match certificate?)",
    "UNEXPECTED_EOF_WHILE_READING": "connection closed by the peer",
    "TLSV1_ALERT_INTERNAL_ERROR": "internal error reported by the peer",
}


# ------------------------------------------------------------------------- peer identity


def peer_common_name(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> str | None:
    """The first commonName in the verified peer certificate's subject, or None."""
    cert = ssl_object.getpeercert()
    if not cert:
        return None
    subject = cert.get("subject", ())
    if isinstance(subject, str):
        return None
    for rdn in subject:  # ((("commonName", "x"),), ...); a multi-valued RDN has several pairs
        for attr in rdn:
            if len(attr) == 2 and attr[0] == "commonName":
                return str(attr[1])
    return None


def _verified_chain(ssl_object: Any) -> list[Any] | None:
    """The chain OpenSSL verified (peer first, trust anchor last), or None if unknown."""
    getter = getattr(ssl_object, "get_verified_chain", None)  # public from CPython 3.13
    if getter is None:
        getter = getattr(getattr(ssl_object, "_sslobj", None), "get_verified_chain", None)
    if getter is None:
        return None
    chain = getter()
    return list(chain) if chain is not None else None


def check_depth(ssl_object: ssl.SSLObject | ssl.SSLSocket, depth: int) -> int:
    """Apply ``ssl-cert-depth`` to the verified peer chain; return its intermediate-CA count.

    OpenSSL semantics (module docstring): at most *depth* CA certificates between the peer
    certificate and the trust anchor. Raises TLSError when the chain is longer, or when the
    chain cannot be read (fail closed: the limit is never silently skipped).
    """
    chain = _verified_chain(ssl_object)
    if chain is None or not chain:
        raise TLSError(f"{HANDSHAKE_FAILED}: cannot read the verified peer certificate chain")
    intermediates = max(0, len(chain) - 2)
    if intermediates > depth:
        raise TLSError(
            f"{HANDSHAKE_FAILED}: certificate verify failed: certificate chain too long "
            f"({intermediates} intermediate CAs, ssl-cert-depth is {depth})"
        )
    return intermediates


def verify_peer(
    ssl_object: ssl.SSLObject | ssl.SSLSocket, cert_depth: int | None = None
) -> str | None:
    """The checks GlusterFS makes after a successful handshake; returns the peer's CN.

    A peer certificate must be present (a client without one is dropped), then the chain is
    checked against *cert_depth* (default: ``ssl_object.context.cert_depth`` as set by
    :func:`gfrpc.tls.options.make_context`, else 1). Raises TLSError.
    """
    if not ssl_object.getpeercert():
        raise TLSError(f"{HANDSHAKE_FAILED}: peer did not send a certificate")
    if cert_depth is None:
        cert_depth = int(getattr(ssl_object.context, "cert_depth", DEFAULT_CERT_DEPTH))
    check_depth(ssl_object, cert_depth)
    return peer_common_name(ssl_object)


# ------------------------------------------------------------------------- auth.ssl-allow


def parse_ssl_allow(text: str) -> list[str]:
    """Split an ``auth.ssl-allow`` value into globs (comma and/or white-space separated)."""
    return [p for p in re.split(r"[,\s]+", text) if p]


def cn_allowed(cn: str | None, patterns: str | Iterable[str] | None) -> bool:
    """Whether a peer named *cn* passes ``auth.ssl-allow`` *patterns*.

    *patterns* is the option text or a parsed list. Matching is case-sensitive ``fnmatch``
    like C ``fnmatch(pattern, cn, 0)`` (``*`` also matches ``/`` and ``.``; unlike C, a
    backslash is not an escape). ``None`` means the option is not set: every authenticated
    peer passes (GlusterFS: the login module does not care, auth.addr decides). A peer
    without a CN never matches a list.
    """
    if patterns is None:
        return True
    globs = parse_ssl_allow(patterns) if isinstance(patterns, str) else list(patterns)
    if cn is None:
        return False
    return any(fnmatch.fnmatchcase(cn, g) for g in globs)


# ------------------------------------------------------------------------- errors for users


def describe_tls_error(exc: BaseException, *, handshake: bool = True) -> str:
    """One line telling a user why TLS failed, e.g. ``TLS handshake failed: unknown CA ...``.

    Our own TLSError messages are returned unchanged. A local verification failure reads
    ``... certificate verify failed: <what> (<OpenSSL's message>)``.
    """
    prefix = HANDSHAKE_FAILED if handshake else "TLS error"
    if isinstance(exc, TLSError):
        return str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        message = exc.verify_message or "unknown reason"
        phrase = _VERIFY_PHRASES.get(code) if code is not None else None
        detail = f"{phrase} ({message})" if phrase else message
        return f"{prefix}: certificate verify failed: {detail}"
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return f"{prefix}: connection closed by the peer"
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None)
        if reason in _REASON_PHRASES:
            return f"{prefix}: {_REASON_PHRASES[reason]}"
        if reason:
            return f"{prefix}: {reason.lower().replace('_', ' ')}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{prefix}: {text}"


def as_tls_error(exc: BaseException, *, handshake: bool = True) -> TLSError:
    """A :class:`TLSError` carrying :func:`describe_tls_error`'s line (raise it ``from exc``)."""
    if isinstance(exc, TLSError):
        return exc
    return TLSError(describe_tls_error(exc, handshake=handshake))
