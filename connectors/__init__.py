"""Raw I/O with one system of record each (Salesforce, SAP, HR): pull, push, retry, error classes.

Knows remote protocols and error codes, not what a work order is.
"""
