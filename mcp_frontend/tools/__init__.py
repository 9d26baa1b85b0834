"""The MCP tools, one module per kind (jobs, shell, cheap, readonly); each adds its tools with `register`."""
