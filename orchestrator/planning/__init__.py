"""Planning: schedule runs (a day planned from the store by the scheduler, held by a lease),
and the changes to a stored plan (an urgent job inserted, a day re-planned)."""
