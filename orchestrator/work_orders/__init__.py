"""Work orders: intake, reads, edits, the lifecycle's transitions, documentation (checklist,
attachments) and the audit trail."""
