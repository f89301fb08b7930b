"""The domain, with no I/O: models (request, answer, decision, status), errors, time and durations,
the text and values every database keeps, failures, the answer rule and who may answer.

Imports nothing else of the package.
"""
