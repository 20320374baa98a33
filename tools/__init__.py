"""Small helpers for the Makefile and the tests; not part of any service."""
