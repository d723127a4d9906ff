"""Helpers shared by the tests: Salt event bus, salt-api hooks, network namespaces."""
