"""Benchmarks and load tools. None of them is a timed test: they measure and report.

* :mod:`.experiment`: ``gfrpc bench``, the 2011 experiment rerun (fio and gfrpc's client
  against glusterfsd and the gfrpc brick, every poller, TLS on and off; plan, stage, drivers,
  runner, report, table, plot).
* :mod:`.transport`: ``gfrpc bench-transport`` (gfrpc's RPC transport against bare blocking
  sockets), with :mod:`.server` (the server process it spawns), :mod:`.baseline` (bare-socket
  client and server) and :mod:`.report` (its table, aims and JSON).
* :mod:`.soak` + :mod:`.soak_workload`: ``gfrpc soak`` (verified mixed I/O for a long time,
  with an fd and RSS growth verdict); :mod:`.manyclients` (the 1,000-client load) and
  :mod:`.idle` (``bench-idle``: brick RSS at 0 → N → 0 idle connections).
* :mod:`.brickproc` (gfrpc daemons in child processes) and :mod:`.procstat` (/proc readings).

A real GlusterFS and TLS files come from the public test kit, :mod:`gfrpc.testing`.
"""
