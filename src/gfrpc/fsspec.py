"""Placeholder: ``gluster://`` for fsspec (issue 11) is built here."""
