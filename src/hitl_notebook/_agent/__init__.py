"""What an agent is and does inside its workflow: the ``Agent`` class (and ``Args``, one run's
arguments for ``Agent.start_many``), a function made an agent (``function_agent``), its questions
and request methods and their module-level faces (``run_faces``), the durable program that asks
them, tool calls that wait for approval (``tools``), and the ``RunHandle`` a started run returns.

Imports ``_core``, ``_db``, ``_store`` and ``_runtime``.
"""
