"""Tests against real Salt daemons and real firewall tools in network namespaces."""
