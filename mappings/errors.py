"""The two ways a map fails: one record that cannot be mapped, or a map that does not fit the org.

Neither message carries a record's values (names, addresses, e-mail): only the record's id,
the field's name and a reason, so they are safe in logs, quarantine reasons and dead letters.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ValidationError


class MappingError(Exception):
    """A record that cannot be mapped: which system, entity and record, which field, and why.

    ``entity`` is ours (``customer``, ``site``, ``work_order``, ...); ``field`` is the remote's
    name for it, qualified by its object (``Account.BillingLatitude``), so one error says
    where to look on both sides.
    """

    def __init__(self, system: str, entity: str, external_id: str, field: str, reason: str):
        self.system = system
        self.entity = entity
        self.external_id = external_id
        self.field = field
        self.reason = reason
        super().__init__(f"{system} {entity} {external_id}: {field}: {reason}")

    def __reduce__(self) -> tuple[type[MappingError], tuple[str, str, str, str, str]]:
        return (
            type(self),
            (self.system, self.entity, self.external_id, self.field, self.reason),
        )


class MappingConfigError(Exception):
    """A map that does not fit the org it is pointed at; it stops start-up.

    ``problems`` holds one line per misfit, each starting with the name it is about
    (``WorkOrder.Fieldbridge_Visits__c: no such field``).
    """

    def __init__(self, system: str, problems: Iterable[str]):
        self.system = system
        self.problems = list(problems)
        super().__init__(
            f"the {system} mapping does not fit the org ({len(self.problems)} "
            f"problem{'s' if len(self.problems) != 1 else ''}):\n  " + "\n  ".join(self.problems)
        )

    def __reduce__(self) -> tuple[type[MappingConfigError], tuple[str, list[str]]]:
        return (type(self), (self.system, self.problems))


def invalid(system: str, entity: str, external_id: str, exc: ValidationError) -> MappingError:
    """The ``MappingError`` for a record pydantic refused: its first problem, the field named
    by its path (``customer.external_id``; ``record`` when the problem is the whole record)."""
    first = exc.errors()[0]
    field = ".".join(map(str, first["loc"])) or "record"
    return MappingError(system, entity, external_id, field, first["msg"])
