"""The outbox: what fieldbridge owes the remotes, kept in the database and delivered by a relay.

Closing a work order writes its rows in the same transaction (``events``); the relay
(``relay``) claims due rows with a lease, hands them to their destinations (``destinations``:
Salesforce, SAP; finance webhooks) and records each outcome: delivered, a stored next
attempt, or a dead letter with the remote's answer. Nothing is lost (a row exists once the
order is closed) and nothing is sent twice to effect (each remote turns a repeat of the row's
key into no second effect).

Around it: ``admin`` (the outbox as operators see it: counts, dead letters, retries),
``billing`` (reconciliation of closed orders with their billing triggers and SAP's invoices)
and ``subscriptions`` (the finance webhook subscribers).
"""
