"""What every hitl widget shares: one background refresh thread, one live widget per cell.

Threading contract: a widget's state changes only under its lock, from its refresh thread or from
the thread that delivers the browser's messages (which one that is depends on the Jupyter
versions, so nothing assumes it). Updates are sent with ``send`` straight from the thread that
made them (IOPub is thread-safe); nothing prints or displays from a thread. The refresh thread
sleeps on an event, so ``close()`` stops it at once.

Re-running a cell must not pile up threads or widget models: the first widget made by a new
execution of a cell closes those its earlier execution made (JupyterLab and Notebook 7 send the
cell's id with each execution). Outside a cell, a widget closes the last one made for the same
``key`` (the same inbox filter, the same run).
"""

from __future__ import annotations

import html
import threading
import time
from pathlib import Path
from typing import Any, ClassVar, cast

import anywidget
import traitlets

from hitl_notebook._notebook.frontend import current_execution
from hitl_notebook._notebook.messages import BrowserMessage, KernelMessage, Notice

__all__ = ["STATIC", "LiveWidget", "live_widgets"]

STATIC = Path(__file__).parent / "static"
MAX_BUSY_RATIO = 9.0
"""Seconds of pause per second spent refreshing, at least (the thread stays under ~10%)."""

_by_cell: dict[str, tuple[str, list[LiveWidget]]] = {}
"""Per notebook cell: the execution that made its widgets, and those widgets."""
_by_key: dict[str, LiveWidget] = {}
"""Outside a cell (no cell id): the last widget made for each key."""
_live_lock = threading.Lock()


def live_widgets() -> list[LiveWidget]:
    """The widgets that are open (at most those of each cell's last execution)."""
    with _live_lock:
        return [w for _, widgets in _by_cell.values() for w in widgets] + list(_by_key.values())


def _register(widget: LiveWidget, key: str) -> list[LiveWidget]:
    """Record a new widget; return the ones it replaces (same cell run again, or same key)."""
    execution = current_execution()
    with _live_lock:
        if execution is None:
            previous = _by_key.get(key)
            _by_key[key] = widget
            return [previous] if previous is not None else []
        cell, run = execution
        last_run, widgets = _by_cell.get(cell, (run, []))
        stale = widgets if last_run != run else []
        _by_cell[cell] = (run, [*(widgets if last_run == run else []), widget])
        return stale


def _unregister(widget: LiveWidget) -> None:
    with _live_lock:
        for key, found in list(_by_key.items()):
            if found is widget:
                del _by_key[key]
        for cell, (run, widgets) in list(_by_cell.items()):
            if widget in widgets:
                _by_cell[cell] = (run, [w for w in widgets if w is not widget])


class LiveWidget(anywidget.AnyWidget):
    """A widget that keeps itself up to date from one background thread until it is closed."""

    _esm = STATIC / "hitl.js"
    _css = STATIC / "hitl.css"
    view = traitlets.Unicode("").tag(sync=True)
    """Which view the browser draws (``inbox`` or ``run``)."""
    refresh_s = traitlets.Float(2.0)
    """Seconds between two refreshes."""

    thread_name: ClassVar[str] = "hitl-refresh"

    def __init__(self, *, key: str, refresh_s: float, **kwargs: Any) -> None:
        super().__init__(refresh_s=refresh_s, **kwargs)
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_msg(self._on_message)
        for stale in _register(self, f"{type(self).__name__}:{key}"):
            stale.close()

    # -- what a subclass provides --------------------------------------------------------------

    def refresh(self) -> Any:
        """Read the database once and send the browser what changed."""
        raise NotImplementedError

    def handle(self, message: BrowserMessage) -> None:
        """Act on one message from the browser (a type the view does not take is ignored)."""
        raise NotImplementedError

    def text(self) -> str:
        """The widget's content as plain text (for frontends without widgets)."""
        raise NotImplementedError

    def html(self) -> str:
        """The widget's content as static HTML (for frontends without widgets)."""
        raise NotImplementedError

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the refresh thread (once)."""
        if self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop refreshing; the widget keeps showing its last state."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    @property
    def running(self) -> bool:
        """True while the refresh thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Stop refreshing and close the widget's model in the browser."""
        if not hasattr(self, "lock"):  # its __init__ refused the arguments: nothing was made
            return
        self.stop()
        _unregister(self)
        layout = self.layout
        super().close()
        layout.close()  # a DOMWidget's Layout is a model of its own: free it too

    def _loop(self) -> None:
        pause = self.refresh_s
        while not self._stop.wait(pause):
            started = time.monotonic()
            try:
                self.refresh()
            except Exception as error:  # a refresh thread must outlive a bad read
                self.notify(f"Refresh failed ({type(error).__name__}: {error}); retrying.")
            # A huge inbox makes a refresh slow: keep the thread under a tenth of a core.
            pause = max(self.refresh_s, MAX_BUSY_RATIO * (time.monotonic() - started))

    def send_message(self, message: KernelMessage) -> None:
        """Send one message to the browser (no-op once closed)."""
        with self.lock:
            if self.comm is not None:
                self.send(message)

    def notify(self, text: str) -> None:
        """Show a short notice above the widget."""
        self.send_message(Notice(type="notice", message=text))

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or "type" not in content:
            return
        try:
            with self.lock:
                self.handle(cast("BrowserMessage", content))
        except Exception as error:  # the browser shows what failed instead of a silent log line
            self.notify(f"{content.get('type', 'message')} failed: {type(error).__name__}: {error}")

    # -- display -------------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        bundle = super()._repr_mimebundle_(**kwargs)
        assert bundle is not None
        data, metadata = bundle
        return {**data, "text/plain": self.text(), "text/html": self.html()}, metadata


def escape(value: Any) -> str:
    """``value`` as text safe inside HTML."""
    return html.escape("" if value is None else str(value))
