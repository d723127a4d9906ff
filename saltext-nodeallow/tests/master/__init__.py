"""Tests of the master side: reactor, runner nodeallow.ingest/status, store and ext_pillar, with real daemons."""
