"""TLS as a layer: SSLContexts built from GlusterFS-named options, and peer identity.

Theory of operation. GlusterFS 10.3 runs TLS directly on the TCP connection (no STARTTLS):
right after connect/accept both sides run a non-blocking OpenSSL handshake, each side
requiring the other's certificate (mutual TLS) and trusting exactly the certificates in its
``ssl-ca-list`` file; host names are never checked. After the handshake the transport keeps
the peer's certificate commonName, and a brick checks it against ``auth.ssl-allow``.

gfrpc builds the same contexts with :func:`make_context`. The transport drives them over
in-memory BIOs (``ctx.wrap_bio(MemoryBIO(), MemoryBIO(), server_side=...)``), so nothing here
touches a socket. Two things CPython's ``ssl`` cannot express are done after the handshake by
:func:`verify_peer`: OpenSSL's verify depth (``ssl-cert-depth``), checked on the verified
chain, and GlusterFS's "a peer must have sent a certificate". Handshake failures are turned
into one-line user messages by :func:`describe_tls_error` / :func:`as_tls_error`.

Note on TLS 1.3: a client finishes its handshake before the server has checked the client's
certificate; a refused client learns it from the alert on its first read. The transport should
therefore treat an SSLError on the first reads like a handshake failure.
"""

from gfrpc.tls.certs import write_certs
from gfrpc.tls.identity import (
    as_tls_error,
    check_depth,
    cn_allowed,
    describe_tls_error,
    parse_ssl_allow,
    peer_common_name,
    verify_peer,
)
from gfrpc.tls.options import (
    DEFAULT_CERT_DEPTH,
    DEFAULT_CIPHER_LIST,
    DEFAULT_EC_CURVE,
    GlusterTLSContext,
    TLSOptions,
    cpu_has_aes,
    default_cipher_list,
    make_context,
)

__all__ = [
    "DEFAULT_CERT_DEPTH",
    "DEFAULT_CIPHER_LIST",
    "DEFAULT_EC_CURVE",
    "GlusterTLSContext",
    "TLSOptions",
    "as_tls_error",
    "check_depth",
    "cn_allowed",
    "cpu_has_aes",
    "default_cipher_list",
    "describe_tls_error",
    "make_context",
    "parse_ssl_allow",
    "peer_common_name",
    "verify_peer",
    "write_certs",
]
