"""External pillar modules of the nodeallow extension (Salt loads this directory as ``pillar``)."""
