"""What every hitl widget shares: one background refresh thread, one live widget per cell.

Threading contract: a widget's state changes only under its lock, from its refresh thread or from
the thread that delivers the browser's messages (which one that is depends on the Jupyter
versions, so nothing assumes it). Updates are sent with ``send`` straight from the thread that
made them (IOPub is thread-safe); nothing prints or displays from a thread. The refresh thread
sleeps on an event, so ``close()`` stops it at once.

Re-running a cell must not pile up threads or widget models: a new widget closes the one that the
same cell (JupyterLab and Notebook 7 send the cell's id with each execution) or, outside a cell,
the same ``key`` made before.
"""

from __future__ import annotations

import html
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import anywidget
import traitlets

__all__ = ["STATIC", "LiveWidget", "current_cell_id", "has_widget_frontend", "live_widgets"]

STATIC = Path(__file__).parent / "static"
MAX_BUSY_RATIO = 9.0
"""Seconds of pause per second spent refreshing, at least (the thread stays under ~10%)."""

_live: dict[str, LiveWidget] = {}
_live_lock = threading.Lock()


def current_cell_id() -> str | None:
    """The id of the notebook cell being executed, when the frontend sends it."""
    kernel = _kernel()
    if kernel is None:
        return None
    try:
        parent = kernel.get_parent("shell")
    except TypeError:  # ipykernel < 6.29 takes no channel
        parent = kernel.get_parent()
    cell: Any = (parent or {}).get("metadata", {}).get("cellId")
    return str(cell) if cell else None


def has_widget_frontend() -> bool:
    """True inside a Jupyter kernel, where a widget can be shown (False in a plain interpreter)."""
    return _kernel() is not None


def _kernel() -> Any:
    try:
        from IPython import get_ipython  # noqa: PLC0415 - IPython is optional outside notebooks
    except ImportError:
        return None
    return getattr(get_ipython(), "kernel", None)


def live_widgets() -> list[LiveWidget]:
    """The widgets whose refresh thread is running (one per cell or key)."""
    with _live_lock:
        return list(_live.values())


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
        self._key = f"{type(self).__name__}:{current_cell_id() or key}"
        self.on_msg(self._on_message)
        with _live_lock:
            previous = _live.pop(self._key, None)
            _live[self._key] = self
        if previous is not None:
            previous.close()

    # -- what a subclass provides --------------------------------------------------------------

    def refresh(self) -> Any:
        """Read the database once and send the browser what changed."""
        raise NotImplementedError

    def handle(self, message: dict[str, Any]) -> None:
        """Act on one message from the browser."""
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
        self.stop()
        with _live_lock:
            if _live.get(self._key) is self:
                del _live[self._key]
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

    def send_message(self, message: Any) -> None:
        """Send one message to the browser (no-op once closed)."""
        with self.lock:
            if self.comm is not None:
                self.send(message)

    def notify(self, text: str) -> None:
        """Show a short notice above the widget."""
        self.send_message({"type": "notice", "message": text})

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        try:
            with self.lock:
                self.handle(content)
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
