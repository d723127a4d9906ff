"""Unit tests of single layers (no daemons)."""
