"""A CSV shared with the bot in Slack: what may be imported, and the life of one share.

Slack sends `file_shared` and a `message` with the file for one share (and several replicas may
receive both): the first to claim the file id previews it, the others do nothing.
"""

from __future__ import annotations

from enum import StrEnum

MAX_SHARED_BYTES = 50 * 1024 * 1024  # Slack hosts bigger files, but an export that large belongs on the CLI


class ShareStatus(StrEnum):
    CLAIMED = "claimed"  # first event seen, being checked and previewed
    REFUSED = "refused"  # not an admin, not a CSV, too big, or unreadable: told so, nothing imported
    PREVIEWED = "previewed"  # preview posted with Import / Cancel
    IMPORTING = "importing"  # Import clicked (a second click finds it here)
    IMPORTED = "imported"
    CANCELLED = "cancelled"
    FAILED = "failed"  # the import itself failed; Import may be clicked again


_MEDIA_TYPES = ("image/", "video/", "audio/")
_MEDIA_FILETYPES = frozenset({"png", "jpg", "jpeg", "gif", "webp", "heic", "bmp", "svg", "tiff", "mp4", "mov",
                              "webm", "mkv", "avi", "mp3", "m4a", "wav", "ogg"})


def is_media(*, filetype: str | None, mimetype: str | None) -> bool:
    """A picture, video or sound (a screenshot in a channel): nobody shares one to import it."""
    return (mimetype or "").lower().startswith(_MEDIA_TYPES) or (filetype or "").lower() in _MEDIA_FILETYPES


def refusal(*, name: str, filetype: str | None, mimetype: str | None, size: int | None) -> str | None:
    """Why a shared file cannot be imported, judged from Slack's metadata alone (before any
    download); None when it may be."""
    lowered = (name or "").lower()
    is_csv = (filetype or "").lower() == "csv" or lowered.endswith(".csv") or (mimetype or "").lower() in (
        "text/csv", "application/csv")
    if not is_csv:
        kind = (filetype or mimetype or "this file").upper() if (filetype or mimetype) else "this file"
        return f"only CSV files can be imported, and {name or 'this file'} is {kind}"
    if size is not None and size > MAX_SHARED_BYTES:
        return (f"{name} is {size / 1024 / 1024:.0f} MB; files over {MAX_SHARED_BYTES // 1024 // 1024} MB are "
                "not imported from Slack — use `abacus import` on the command line")
    if size == 0:
        return f"{name} is empty (0 bytes)"
    return None
