"""The farm's contract: what the MCP frontend, the workers and the CLI share (job models, the Redis layout
and store, settings, signing, git plumbing, redaction, job tokens, progress). It imports none of them."""
