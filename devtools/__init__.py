"""What is not the product: the demo, the chaos run, the simulators' world."""
