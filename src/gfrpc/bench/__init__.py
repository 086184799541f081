"""Benchmarks: ``bench-transport`` (gfrpc RPC transport vs bare blocking sockets).

Modules: :mod:`.transport` (engine + CLI hooks ``add_arguments``/``run``/``main``),
:mod:`.server` (the server process it spawns), :mod:`.baseline` (bare-socket client and
server), :mod:`.report` (table, aims and JSON), :mod:`.certs` (throwaway TLS material).
"""
