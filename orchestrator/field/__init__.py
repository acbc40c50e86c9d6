"""The technician's side: the day's packet and its deltas, the op log of offline devices,
the facts recorded in the field (parts used, labour, readings, notes), resumable uploads."""
