"""Pure optimisation: technicians, jobs and travel times in; a plan and reasons out.

No I/O, no database, no knowledge of the systems of record. ``model`` is the problem and
plan format; ``solve.solve`` compiles a problem (``instance``), runs an engine and checks
the plan independently (``validate``) before handing it back.
"""

ENGINES: tuple[str, ...] = ("auto", "vroom", "pyvrp")
"""``auto`` (the default) splits the day into independent parts and races the engines that
can express each part; ``vroom`` and ``pyvrp`` run one engine on the whole day."""
