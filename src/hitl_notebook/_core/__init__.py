"""The domain, with no I/O: models (request, answer, decision, status), errors, time and durations,
the text and values every database keeps, failures, the answer rule and who may answer, and the
hook through which a face says how a domain object is displayed (``views``).

Imports nothing else of the package.
"""
