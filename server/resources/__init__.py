"""The district's directory of community resources that case managers refer families to."""
