"""Preventive maintenance: plans (an asset, or every asset of a model, tied to a work type by
a recurrence rule), the occurrences they define (``rules.py``, pure) and the ordinary work
orders generated for them, each occurrence once (``plans.py``, ``generate.py``)."""
