"""Pure optimisation: technicians, jobs and travel times in; a plan and reasons out.

No I/O, no database, no knowledge of the systems of record.
"""
