"""The notebook face: the live inbox table and run card (anywidget, ``static/``), what a click
does, edit forms drawn from a JSON schema, the typed messages between kernel and browser, and the
display hook that shows an ``Inbox`` or a ``RunHandle`` as a widget.

Imports every layer below (``_core`` to ``_agent``), never ``_service``.
"""
