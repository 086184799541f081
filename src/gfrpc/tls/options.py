"""TLS options named the way GlusterFS names them, and the SSLContext built from them.

GlusterFS 10.3 behaviour mirrored here (see reference glusterfs-wire.md §2.1-2.2):

* files: ``transport.socket.ssl-own-cert`` / ``ssl-private-key`` / ``ssl-ca-list``, by default
  ``glusterfs.pem`` / ``glusterfs.key`` / ``glusterfs.ca`` in one certificate directory;
* mutual authentication: both sides use ``SSL_VERIFY_PEER`` (a peer must send a certificate
  that chains to a certificate in the CA list); no host-name check anywhere;
* ``ssl-cert-depth`` (default 1) is OpenSSL's verify depth; CPython has no
  ``set_verify_depth``, so the depth is checked right after the handshake by
  :func:`gfrpc.tls.identity.verify_peer` (the context carries ``cert_depth`` for it);
* ``ssl-crl-path`` turns on CRL checking of the whole chain (``X509_V_FLAG_CRL_CHECK |
  X509_V_FLAG_CRL_CHECK_ALL`` = Python's ``VERIFY_CRL_CHECK_CHAIN``);
* ``ssl-cipher-list`` default ``EECDH:EDH:HIGH:!3DES:!RC4:!DES:!MD5:!aNULL:!eNULL``, with
  ``AES128:`` put in front when the CPU has AES instructions (``aes`` in /proc/cpuinfo flags);
* ``ssl-ec-curve`` prime256v1: on OpenSSL 3 this limits the key-exchange groups to P-256 (also
  for TLS 1.3), exactly as GlusterFS's ``SSL_CTX_set_tmp_ecdh`` does;
* ``OP_NO_TICKET``, ``OP_NO_COMPRESSION``, server cipher preference, single ECDH use.

Where gfrpc is stricter than GlusterFS: TLS 1.2 is the minimum (GlusterFS leaves the minimum to
the system OpenSSL configuration, which on OpenSSL 3 distributions is TLS 1.2 anyway).
Where CPython cannot follow: GlusterFS sets ``X509_PURPOSE_ANY`` (no extended-key-usage checks);
Python keeps OpenSSL's default purpose check, so a peer certificate that carries an extended key
usage must list the role it is used in (serverAuth for servers, clientAuth for clients).
Certificates without EKU (or with both, as :mod:`gfrpc.tls.certs` writes) work everywhere.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gfrpc.errors import ConfigError

#: GlusterFS's built-in cipher list (``DEFAULT_CIPHER_LIST`` in the socket transport).
DEFAULT_CIPHER_LIST = "EECDH:EDH:HIGH:!3DES:!RC4:!DES:!MD5:!aNULL:!eNULL"
#: GlusterFS's default ``ssl-ec-curve``.
DEFAULT_EC_CURVE = "prime256v1"
#: GlusterFS's default ``ssl-cert-depth`` (``DEFAULT_VERIFY_DEPTH``).
DEFAULT_CERT_DEPTH = 1

#: Default file names inside the certificate directory (GlusterFS ``SSL_CERT_PATH``).
OWN_CERT_FILE = "glusterfs.pem"
PRIVATE_KEY_FILE = "glusterfs.key"
CA_LIST_FILE = "glusterfs.ca"

#: GlusterFS option names: field -> (socket option in a volfile, glusterd volume option).
OPTION_NAMES: dict[str, tuple[str, str]] = {
    "own_cert": ("transport.socket.ssl-own-cert", "ssl.own-cert"),
    "private_key": ("transport.socket.ssl-private-key", "ssl.private-key"),
    "ca_list": ("transport.socket.ssl-ca-list", "ssl.ca-list"),
    "cert_depth": ("transport.socket.ssl-cert-depth", "ssl.certificate-depth"),
    "cipher_list": ("transport.socket.ssl-cipher-list", "ssl.cipher-list"),
    "crl_path": ("transport.socket.ssl-crl-path", "ssl.crl-path"),
    "ec_curve": ("transport.socket.ssl-ec-curve", "ssl.ec-curve"),
    "dh_param": ("transport.socket.ssl-dh-param", "ssl.dh-param"),
}


def cpu_has_aes(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> bool:
    """True when a ``flags`` line of *cpuinfo* lists ``aes`` (x86 AES-NI); False if unreadable."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "flags" and "aes" in value.split():
                    return True
    except OSError:
        return False
    return False


def default_cipher_list(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> str:
    """GlusterFS's default cipher list as computed at run time.

    GlusterFS (since #1050) prefixes ``AES128:`` when the CPU has AES instructions, so that
    cheap AES-128 suites are preferred (TLS 1.2 only: the list does not touch TLS 1.3 suites).
    """
    return ("AES128:" if cpu_has_aes(cpuinfo) else "") + DEFAULT_CIPHER_LIST


def default_cert_dir() -> str:
    """OpenSSL's OPENSSLDIR, which GlusterFS ≥ 10 uses as its certificate directory."""
    capath = ssl.get_default_verify_paths().openssl_capath
    return os.path.dirname(capath) if capath else "/etc/ssl"


def _check_readable(path: str, what: str) -> None:
    """Raise ConfigError (one line, naming the file) unless *path* is a readable file."""
    try:
        with open(path, "rb") as f:
            f.read(1)
    except FileNotFoundError:
        raise ConfigError(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} is a directory, not a file: {path}") from None
    except OSError as e:
        raise ConfigError(f"cannot read {what} file {path}: {e.strerror or e}") from None


@dataclass(frozen=True)
class TLSOptions:
    """TLS settings of one transport, one field per GlusterFS ``transport.socket.ssl-*`` option.

    ``crl_path`` is a directory of hashed CRL files (``openssl rehash``) as GlusterFS expects,
    or a single PEM file of CRLs (a gfrpc convenience). ``dh_param`` is only loaded when set,
    like GlusterFS.
    """

    own_cert: str
    private_key: str
    ca_list: str
    cert_depth: int = DEFAULT_CERT_DEPTH
    cipher_list: str = field(default_factory=default_cipher_list)
    crl_path: str | None = None
    ec_curve: str = DEFAULT_EC_CURVE
    dh_param: str | None = None

    @classmethod
    def from_dir(cls, directory: str | os.PathLike[str], **overrides: Any) -> TLSOptions:
        """Options for ``glusterfs.pem``/``.key``/``.ca`` in *directory* (readable files)."""
        d = os.fspath(directory)
        fields: dict[str, Any] = {
            "own_cert": os.path.join(d, OWN_CERT_FILE),
            "private_key": os.path.join(d, PRIVATE_KEY_FILE),
            "ca_list": os.path.join(d, CA_LIST_FILE),
        }
        fields.update(overrides)  # any other field, or a different file for one role
        opts = cls(**fields)
        opts.check_files()
        return opts

    @classmethod
    def from_options(
        cls, options: Mapping[str, str], *, cert_dir: str | os.PathLike[str] | None = None
    ) -> TLSOptions:
        """Options from GlusterFS option names (volfile ``transport.socket.ssl-*`` or ``ssl.*``).

        Paths not given default to the ``glusterfs.*`` files in *cert_dir* (default: OpenSSL's
        OPENSSLDIR, as GlusterFS 10 does). ``ssl-crl-path`` ``NULL`` means none, as in GlusterFS.
        """
        values: dict[str, str] = {}
        for fld, names in OPTION_NAMES.items():
            for name in names:
                if name in options:
                    values[fld] = options[name]
                    break
        d = os.fspath(cert_dir) if cert_dir is not None else default_cert_dir()
        depth_text = values.get("cert_depth", str(DEFAULT_CERT_DEPTH))
        try:
            depth = int(depth_text)
        except ValueError:
            raise ConfigError(f"ssl-cert-depth must be an integer, not {depth_text!r}") from None
        if depth < 0:
            raise ConfigError(f"ssl-cert-depth must not be negative, not {depth}")
        crl = values.get("crl_path")
        return cls(
            own_cert=values.get("own_cert", os.path.join(d, OWN_CERT_FILE)),
            private_key=values.get("private_key", os.path.join(d, PRIVATE_KEY_FILE)),
            ca_list=values.get("ca_list", os.path.join(d, CA_LIST_FILE)),
            cert_depth=depth,
            cipher_list=values.get("cipher_list") or default_cipher_list(),
            crl_path=None if crl in (None, "", "NULL") else crl,
            ec_curve=values.get("ec_curve") or DEFAULT_EC_CURVE,
            dh_param=values.get("dh_param") or None,
        )

    def check_files(self) -> None:
        """Raise ConfigError naming the first missing or unreadable file."""
        _check_readable(self.own_cert, "ssl-own-cert")
        _check_readable(self.private_key, "ssl-private-key")
        _check_readable(self.ca_list, "ssl-ca-list")
        if self.crl_path is not None:
            if os.path.isdir(self.crl_path):
                if not os.access(self.crl_path, os.R_OK | os.X_OK):
                    raise ConfigError(f"cannot read ssl-crl-path directory {self.crl_path}")
            else:
                _check_readable(self.crl_path, "ssl-crl-path")
        if self.dh_param is not None:
            _check_readable(self.dh_param, "ssl-dh-param")


class GlusterTLSContext(ssl.SSLContext):
    """An ``ssl.SSLContext`` that also remembers ``cert_depth`` for the post-handshake check."""

    cert_depth: int = DEFAULT_CERT_DEPTH


def _ssl_reason(e: ssl.SSLError) -> str:
    reason = getattr(e, "reason", None)
    return reason.lower().replace("_", " ") if reason else (str(e).splitlines() or ["error"])[0]


def make_context(opts: TLSOptions, server_side: bool) -> GlusterTLSContext:
    """Build the SSLContext GlusterFS would build for *opts* (mutual TLS, no host names).

    The result is used with ``wrap_bio(incoming, outgoing, server_side=...)``; after the
    handshake call :func:`gfrpc.tls.identity.verify_peer` to apply ``cert_depth``.
    Bad files or options raise ConfigError with a one-line message naming them.
    """
    opts.check_files()
    ctx = GlusterTLSContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    ctx.cert_depth = opts.cert_depth
    # Trust = a chain to a certificate in ssl-ca-list; GlusterFS never checks host names.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED  # SSL_VERIFY_PEER on both sides (mutual TLS)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= (
        ssl.OP_NO_TICKET
        | ssl.OP_NO_COMPRESSION
        | ssl.OP_CIPHER_SERVER_PREFERENCE
        | ssl.OP_SINGLE_ECDH_USE
    )
    ignore_eof = getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    if ignore_eof:
        ctx.options |= ignore_eof

    try:
        ctx.set_ciphers(opts.cipher_list)
    except ssl.SSLError:
        raise ConfigError(f"ssl-cipher-list {opts.cipher_list!r} selects no cipher") from None
    try:
        ctx.set_ecdh_curve(opts.ec_curve)
    except (ValueError, ssl.SSLError):
        raise ConfigError(f"ssl-ec-curve {opts.ec_curve!r} is not a curve OpenSSL knows") from None

    try:
        ctx.load_cert_chain(opts.own_cert, opts.private_key)
    except ssl.SSLError as e:
        raise ConfigError(
            f"cannot load ssl-own-cert {opts.own_cert} with ssl-private-key "
            f"{opts.private_key}: {_ssl_reason(e)}"
        ) from None
    except OSError as e:
        raise ConfigError(f"cannot load ssl-own-cert {opts.own_cert}: {e.strerror or e}") from None
    try:
        ctx.load_verify_locations(cafile=opts.ca_list)
    except (ssl.SSLError, OSError) as e:
        why = _ssl_reason(e) if isinstance(e, ssl.SSLError) else (e.strerror or str(e))
        raise ConfigError(f"cannot load ssl-ca-list {opts.ca_list}: {why}") from None

    if opts.crl_path is not None:
        _load_crls(ctx, opts.crl_path)
    if opts.dh_param is not None:
        try:
            ctx.load_dh_params(opts.dh_param)
        except (ssl.SSLError, OSError) as e:
            why = _ssl_reason(e) if isinstance(e, ssl.SSLError) else (e.strerror or str(e))
            raise ConfigError(f"cannot load ssl-dh-param {opts.dh_param}: {why}") from None
    return ctx


def _load_crls(ctx: ssl.SSLContext, crl_path: str) -> None:
    """Load CRLs and check the whole chain against them (GlusterFS: CRL_CHECK | CRL_CHECK_ALL).

    Every CA in the chain then needs a CRL; a missing one fails verification with "unable to
    get certificate CRL", as in GlusterFS.
    """
    try:
        if os.path.isdir(crl_path):
            # Looked up lazily by issuer hash (<hash>.r0 names, see `openssl rehash`).
            ctx.load_verify_locations(capath=crl_path)
        else:
            ctx.load_verify_locations(cafile=crl_path)
    except (ssl.SSLError, OSError) as e:
        why = _ssl_reason(e) if isinstance(e, ssl.SSLError) else (e.strerror or str(e))
        raise ConfigError(f"cannot load ssl-crl-path {crl_path}: {why}") from None
    ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN
