"""The service face: the HTTP API (router, wire types, body limits, token auth), headless workers,
the inbox as a web page, the ``hitl`` command line and its demo.

Imports every layer below (``_core`` to ``_agent``), the frames, and ``_notebook`` for one thing:
the inbox web page (``http_inbox``) is the notebook's inbox widget served over HTTP, so it sends
the widget's own messages, built by the widget's own code, rather than a copy that could drift.
``_notebook`` never imports ``_service``.
"""
