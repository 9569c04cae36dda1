"""The baseline task of the processing benchmark: does nothing, on the same cluster."""


def noop(event_id: str, trigger: str = "queue") -> None:
    return None
