"""The chat domain: rooms, messages, presence, auth, fan-out and storage.

Nothing in this package knows about Lambda events; `handlers/*.py` adapt events to it.
"""
