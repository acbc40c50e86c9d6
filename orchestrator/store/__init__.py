"""The store: models, the database (engines, the unit of work), migrations, pagination."""
