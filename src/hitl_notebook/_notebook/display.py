"""How an ``Inbox`` and a ``RunHandle`` show in a notebook, registered with the domain's view hook
(``_core.views``) when ``hitl_notebook`` is imported.

In a Jupyter kernel each displays as its live widget; elsewhere (a plain interpreter, nbconvert)
the domain object shows its own text and HTML. Cheap to import: the widget modules (anywidget,
ipywidgets) load only when a view is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hitl_notebook._agent.handle import RunHandle
from hitl_notebook._core.errors import NotFoundError
from hitl_notebook._core.views import MimeBundle, register_view
from hitl_notebook._notebook.frontend import has_widget_frontend
from hitl_notebook._store.inbox import Inbox

if TYPE_CHECKING:
    from hitl_notebook._notebook.inbox_widget import InboxWidget
    from hitl_notebook._notebook.run_widget import RunWidget

__all__ = ["inbox_bundle", "inbox_view", "run_bundle", "run_view"]


def inbox_view(
    inbox: Inbox,
    *,
    responder: str | None = None,
    refresh_s: float = 2.0,
    page_size: int = 25,
    live: bool = True,
) -> InboxWidget:
    """The live widget of an inbox; its first page is drawn from the rows the inbox holds."""
    from hitl_notebook._notebook.inbox_widget import inbox_widget  # noqa: PLC0415 - loads widgets

    return inbox_widget(
        inbox, responder=responder, refresh_s=refresh_s, page_size=page_size, live=live
    )


def inbox_bundle(inbox: Inbox, **options: Any) -> MimeBundle | None:
    """An inbox read through a store shows as its widget in a kernel (None: as text and HTML)."""
    if inbox.store is None or not has_widget_frontend():
        return None
    return inbox_view(inbox)._repr_mimebundle_(**options)


def run_view(run: RunHandle, *, responder: str | None = None, refresh_s: float = 1.0) -> RunWidget:
    """The live card of a run."""
    from hitl_notebook._notebook.run_widget import RunWidget  # noqa: PLC0415 - loads widgets

    return RunWidget(run.store, run.id, responder=responder, refresh_s=refresh_s)


def run_bundle(run: RunHandle, **options: Any) -> MimeBundle | None:
    """A run shows as its card in a kernel (None: as text and HTML, also for an unknown run)."""
    if not has_widget_frontend():
        return None
    try:
        return run_view(run)._repr_mimebundle_(**options)
    except NotFoundError:  # no such run: its text says so
        return None


register_view(Inbox, widget=inbox_view, bundle=inbox_bundle)
register_view(RunHandle, widget=run_view, bundle=run_bundle)
