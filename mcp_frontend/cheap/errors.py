"""Errors of the cheap tools, in the frontend's FarmError hierarchy."""

from mcp_frontend.errors import FarmError


class PathOutsideSandbox(FarmError):
    code = "path_outside_sandbox"
    hint = "name files and globs inside SANDBOX_ROOT (relative to repo, without `..` leaving it)"


class ModelCallFailed(FarmError):
    code = "model_call_failed"
    hint = "check that the adapter at ADAPTER_URL runs and accepts ADAPTER_TOKEN; `codex-farm doctor` tests both"


class ModelOutputInvalid(FarmError):
    code = "model_output_invalid"
    hint = "the model did not answer in the asked format; call again, or with a stronger model"
