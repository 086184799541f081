"""Placeholder: filled in by the work on issue 10."""

from __future__ import annotations

from .common import Command

COMMANDS: tuple[Command, ...] = ()
