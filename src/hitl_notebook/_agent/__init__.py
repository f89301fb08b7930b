"""What an agent is and does inside its workflow: the ``Agent`` class (and ``Args``, one run's
arguments for ``Agent.start_many``), its questions and request methods, the durable program that
asks them, tool calls that wait for approval (``tools``), and the ``RunHandle`` a started run
returns.

Imports ``_core``, ``_db``, ``_store`` and ``_runtime``.
"""
