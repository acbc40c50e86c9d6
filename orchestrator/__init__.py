"""The application: lifecycle, persistence, sync, outbox, tasks, settings and the CLI.

Composes ``connectors``, ``mappings`` and ``scheduler``; ``api`` calls into it.
"""
