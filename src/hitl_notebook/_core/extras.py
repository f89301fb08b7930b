"""Optional extras: importing a face whose extra is not installed says which one to install."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["extra_required"]


@contextlib.contextmanager
def extra_required(module: str, needs: str, extra: str, *packages: str) -> Iterator[None]:
    """Around a module's imports of ``packages``: if one is missing, raise ModuleNotFoundError
    saying that ``module`` needs ``needs`` and which extra brings it."""
    try:
        yield
    except ModuleNotFoundError as error:
        if error.name is None or error.name.partition(".")[0] not in packages:
            raise
        raise ModuleNotFoundError(
            f"{module} needs {needs}, which is not installed here ({error}); "
            f"install the {extra} extra: pip install 'hitl-notebook[{extra}]'",
            name=error.name,
        ) from error
