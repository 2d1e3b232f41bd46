"""Crisis language: the rules, the model, and the detector that reads a message with both."""
