"""The outside world on loopback: simulators of Salesforce, SAP and the HR system for the
embedded mode and the tests. It imports nothing of fieldbridge's own."""
