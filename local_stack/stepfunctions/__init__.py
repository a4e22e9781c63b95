"""Step Functions on the local stack: moto's interpreter running the committed ASL file."""
