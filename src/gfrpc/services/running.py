"""What every gfrpc daemon object shares: ``start()`` and ``stop()``, and ``with server:``
meaning "started inside the block, stopped after it"."""

from __future__ import annotations

from typing import Self

from gfrpc.transport import Listener

__all__ = ["Running"]


class Running:
    """Base of the brick and management servers: subclasses define ``start`` and ``stop``."""

    def start(self) -> Listener:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
