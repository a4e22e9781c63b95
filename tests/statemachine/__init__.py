"""State machine tests: the committed ASL file run by moto's interpreter against the real handlers."""
