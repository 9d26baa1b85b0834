"""Cheap tools: one bounded model call each (analyze, review, draft) and bounded artifact slices, no agent."""
