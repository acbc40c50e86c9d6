"""Reference data: customers, sites, assets, contacts, technicians, work types, divisions,
territories."""
