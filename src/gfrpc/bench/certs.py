"""Throwaway TLS material for benchmarks: one CA and one certificate used by both ends.

GlusterFS layout in one directory: ``glusterfs.pem`` (own cert), ``glusterfs.key``,
``glusterfs.ca`` (the CA list). The certificate carries both serverAuth and clientAuth, so
the same files serve the server and the client (mutual TLS, as GlusterFS deployments do).
Uses ``gfrpc.tls.certs.write_certs`` when that exists, else ``trustme``, else the
``openssl`` command line.
"""

from __future__ import annotations

import os
import subprocess

CN = "gfrpc-bench"
FILES = ("glusterfs.pem", "glusterfs.key", "glusterfs.ca")


def write_bench_certs(directory: str) -> str:
    """Create a CA and a certificate for ``CN`` in ``directory``; return the directory."""
    os.makedirs(directory, exist_ok=True)
    try:
        from gfrpc.tls.certs import write_certs  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        try:
            write_certs(directory, CN)
            if all(os.path.exists(os.path.join(directory, f)) for f in FILES):
                return directory
        except Exception:  # an API still in flux: fall through to our own
            pass
    try:
        import trustme
    except ImportError:
        _openssl_certs(directory)
        return directory
    ca = trustme.CA()
    leaf = ca.issue_cert(CN)
    pem, key, cafile = (os.path.join(directory, f) for f in FILES)
    leaf.cert_chain_pems[0].write_to_path(pem)
    leaf.private_key_pem.write_to_path(key)
    ca.cert_pem.write_to_path(cafile)
    return directory


def _openssl_certs(directory: str) -> None:
    pem, key, cafile = (os.path.join(directory, f) for f in FILES)
    cakey = os.path.join(directory, "ca.key")
    ext = os.path.join(directory, "leaf.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        cakey,
        "-out",
        cafile,
        "-days",
        "2",
        "-subj",
        "/CN=gfrpc-bench-ca",
    )
    csr = os.path.join(directory, "leaf.csr")
    run(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key,
        "-out",
        csr,
        "-subj",
        f"/CN={CN}",
    )
    run(
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        cafile,
        "-CAkey",
        cakey,
        "-CAcreateserial",
        "-out",
        pem,
        "-days",
        "2",
        "-extfile",
        ext,
    )


def make_bench_context(directory: str, server_side: bool):  # -> ssl.SSLContext
    """The SSLContext both the gfrpc cells and the baseline use: gfrpc's GlusterFS-style
    context (mutual TLS, no host names) pinned to TLS 1.3 with its default suites."""
    import ssl

    ctx = None
    for modname in ("gfrpc.tls", "gfrpc.tls.options"):
        try:
            mod = __import__(modname, fromlist=["TLSOptions", "make_context"])
            ctx = mod.make_context(mod.TLSOptions.from_dir(directory), server_side)
            break
        except (ImportError, AttributeError):
            continue
    if ctx is None:  # gfrpc.tls not there yet: the same settings by hand
        pem, key, cafile = (os.path.join(directory, f) for f in FILES)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.options |= ssl.OP_NO_TICKET | ssl.OP_NO_COMPRESSION
        ctx.load_cert_chain(pem, key)
        ctx.load_verify_locations(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    return ctx
