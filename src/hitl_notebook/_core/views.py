"""How a domain object is shown: the one hook between the domain and the faces that draw it.

A domain object (an ``Inbox``, a ``RunHandle``) knows nothing of widgets. A face registers, per
domain class, how to make the object's live view and its rich display bundle; the object's
``widget()`` and ``_repr_mimebundle_`` ask here. The package names its face module
(``add_face``), which is imported when a view is first looked up, so that importing the package
loads no widget code and no store. When no face is registered, or the face declines
(no widget frontend: a plain interpreter, nbconvert), the object shows as its own text and HTML.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["MimeBundle", "View", "add_face", "display_bundle", "live_view", "register_view"]

MimeBundle = dict[str, Any] | tuple[dict[str, Any], dict[str, Any]]
"""What ``_repr_mimebundle_`` returns: data by MIME type, optionally with metadata."""


@dataclass(frozen=True)
class View:
    """How a face shows objects of one domain class."""

    widget: Callable[..., Any]
    """``widget(obj, **options)``: the object's live view."""
    bundle: Callable[..., MimeBundle | None]
    """``bundle(obj, **display_options)``: its rich display, or None to show its text and HTML."""


_views: dict[type, View] = {}
_faces: list[str] = []


def add_face(module: str) -> None:
    """Name a module that registers views when imported; it is imported at the first lookup."""
    _faces.append(module)


def register_view(
    cls: type, *, widget: Callable[..., Any], bundle: Callable[..., MimeBundle | None]
) -> None:
    """Show objects of ``cls`` (and its subclasses) with ``widget`` and ``bundle``."""
    _views[cls] = View(widget=widget, bundle=bundle)


def _view_of(obj: object) -> View | None:
    while _faces:
        importlib.import_module(_faces.pop(0))
    for cls in type(obj).__mro__:
        if cls in _views:
            return _views[cls]
    return None


def live_view(obj: object, **options: Any) -> Any:
    """The live view of ``obj`` made by the face registered for its class."""
    view = _view_of(obj)
    if view is None:
        raise RuntimeError(
            f"No live view is registered for {type(obj).__name__}; import hitl_notebook first."
        )
    return view.widget(obj, **options)


def display_bundle(
    obj: object, fallback: Callable[[], dict[str, Any]], **options: Any
) -> MimeBundle:
    """The rich display of ``obj`` from the face registered for its class, else ``fallback()``."""
    view = _view_of(obj)
    shown = None if view is None else view.bundle(obj, **options)
    return fallback() if shown is None else shown
