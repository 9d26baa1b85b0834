"""The farm's private git refs, in the caller's repo, the workers' mirrors and a remote."""

# A job's snapshot commit, pinned by the frontend so the workers can fetch it: `<prefix><job id>`.
SNAPSHOT_REF_PREFIX = "refs/codex-farm/snapshots/"
# A `remote` job's result commit, pushed by the worker to FARM_GIT_REMOTE: `<prefix><job id>`.
RESULT_REF_PREFIX = "refs/codex-farm/results/"
