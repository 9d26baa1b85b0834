"""A load run on a farm: many jobs through the MCP frontend, and what must hold once they have ended.

Shared by the load benchmark (`python -m bench.load`) and the load test (tests/load), so neither imports
the other."""
