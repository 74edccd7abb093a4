"""What a command answers: text + blocks for the message, files for the DM (or the channel)."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file to upload with `files_upload_v2` (a chart PNG or a CSV)."""

    content: bytes
    filename: str
    title: str
    alt_text: str | None = None  # images only; read by screen readers


@dataclass(slots=True)
class Reply:
    text: str  # the plain-text fallback (notifications, screen readers)
    blocks: list[dict] = field(default_factory=list)
    files: list[Attachment | Future[Attachment]] = field(default_factory=list)  # a Future: still being drawn
    shareable: bool = True  # False: always private (help, errors, refusals)


def ready(item: Attachment | Future[Attachment]) -> Attachment:
    """The attachment, waiting for it if it is still being drawn (its exception re-raised)."""
    return item.result(timeout=120) if isinstance(item, Future) else item
