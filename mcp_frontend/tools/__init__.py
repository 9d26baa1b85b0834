"""The MCP tools, one module per group (jobs, shell, cheap, readonly); each adds its tools with `register`."""
