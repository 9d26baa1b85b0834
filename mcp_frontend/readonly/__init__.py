"""Zero-LLM tools that look at (or, for apply_edits, precisely edit) code inside SANDBOX_ROOT.

None of them calls the gateway, a worker or Redis beyond reading a stored patch: they answer from the
files and git history on this machine, in small bounded results.
"""
