"""Endpoints and secrets, the receiver, every delivery and event, and the processing pipeline."""
