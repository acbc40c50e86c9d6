"""Canonical models (pydantic) and, per system of record, declarative maps to and from them.

No I/O. A map that cannot map a record raises ``MappingError`` naming the record and field.
"""
