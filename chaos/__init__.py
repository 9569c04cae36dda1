"""The chaos run: a real hookdesk stack on loopback under kill -9 and a database restart,
then a reconciliation of everything sent against everything stored, processed and sent on.

`python -m chaos --help` for the options; docs/chaos.md for what it checks and why."""
