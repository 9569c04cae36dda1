"""Fuzzing hookdesk's parsers, receiver and API: `python -m fuzz --examples N [--target NAME]`."""
