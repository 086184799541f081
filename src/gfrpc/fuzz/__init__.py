"""Hostile input at scale: mutate valid GlusterFS RPC requests and send them to a live server.

``python -m gfrpc.fuzz --target brick|mgmtd --count N`` starts a ``gfrpc brick`` or
``gfrpc mgmtd`` subprocess in a private sandbox, sends it ``N`` mutated (and some valid)
requests over many connections, checks periodically that it is alive, serves a fresh client
and wrote nothing outside its directory, and prints a table of outcomes. Modules:
``mutators`` (the mutations), ``corpus`` (valid requests), ``targets`` (per-server set-up and
health checks), ``sandbox`` (the subprocess and its directories), ``wireclient`` (a raw
client), ``runner`` (the loop and the table).
"""

from gfrpc.fuzz.runner import CampaignConfig, CampaignResult, format_table, run_campaign

__all__ = ["CampaignConfig", "CampaignResult", "format_table", "run_campaign"]
