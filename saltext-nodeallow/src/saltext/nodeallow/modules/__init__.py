"""Execution modules of the nodeallow extension (Salt loads this directory as ``modules``)."""
