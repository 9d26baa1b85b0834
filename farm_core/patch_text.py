"""A patch shown as text: what `get include_diff`, artifacts and drafts return of a job's patch."""


def trim_diff(patch: bytes, max_bytes: int) -> str:
    """The patch as text, cut at a line boundary within max_bytes plus a marker line when cut."""
    total = len(patch)
    if total <= max_bytes:
        return patch.decode("utf-8", "replace")
    # Cutting after a newline never splits a UTF-8 sequence: 0x0A never occurs inside one.
    cut = patch.rfind(b"\n", 0, max(max_bytes, 0)) + 1
    shown = patch[:cut]
    return shown.decode("utf-8", "replace") + f"… diff trimmed: {len(shown)} of {total} bytes shown\n"
