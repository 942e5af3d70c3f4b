"""Views beyond Arkime: the slow-scan finder and the device inventory (issue 9).

``aggregates`` keeps small per-(source, day) and per-device tables up to date as sessions are
stored (``SessionStore`` calls it inside each batch transaction), so ``scans`` and ``devices``
answer from a few thousand rows instead of scanning weeks of sessions.
"""
