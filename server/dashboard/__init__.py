"""The dashboard: counts of how the program is doing, in the reader's scope."""
