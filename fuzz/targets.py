"""Every fuzz target, cheapest first. Weights spread a run's inputs: pure parsers take most,
the HTTP targets (receiver, API) fewer, since each of their inputs costs a request."""

from fuzz import api, language, providers, receiver

TARGETS = [*language.TARGETS, *providers.TARGETS, *receiver.TARGETS, *api.TARGETS]
