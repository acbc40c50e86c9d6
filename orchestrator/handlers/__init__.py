"""Command handlers: plain functions that take a unit of work and a command or its arguments."""
