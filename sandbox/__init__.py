"""The outside world on loopback: simulators of Salesforce and the HR system (SAP later) for
the embedded mode and the tests. It imports nothing of fieldbridge's own."""
