"""Resumable uploads (tus 1.0.0) of the files that follow a phone's records."""
