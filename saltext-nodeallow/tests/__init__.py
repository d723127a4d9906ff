"""Tests of the nodeallow Salt extension."""
