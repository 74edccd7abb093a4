"""CSV files shared with the bot: claim once → check → download with the bot token → preview
(a dry run of the one import service) → Import / Cancel → the result, in place.

Thin on purpose: the rules are in core.importers (what may be imported, the share's statuses), the
import itself in bot.import_service, the claim and its status in storage.import_repo.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.engine import Engine

from bot.blocks import imports as blocks
from bot.blocks.payloads import SharedFileRef
from bot.import_service import FileInvalid, FileRejected, ImportRequest, ImportService
from core.errors import InputError, PermissionDenied, RuntimeFailure
from core.importers.share import MAX_SHARED_BYTES, ShareStatus, is_media, refusal
from storage import import_repo
from storage.db import session_scope

from .authz import Requester, Role

log = logging.getLogger(__name__)

NOT_ADMIN = "only Abacus admins can import files; ask one of them to share it with me"
IMPORT_LEASE = timedelta(minutes=15)  # longer than any import of a file Slack lets through (50 MB)
DOWNLOAD_TIMEOUT = 60


@dataclass(frozen=True, slots=True)
class SharedFile:
    """What Slack says about a shared file (from the message event or files.info)."""

    file_id: str
    name: str
    filetype: str | None
    mimetype: str | None
    size: int | None
    url: str | None  # url_private_download

    @classmethod
    def from_slack(cls, obj: dict) -> SharedFile:
        size = obj.get("size")
        return cls(file_id=str(obj.get("id") or ""), name=str(obj.get("name") or obj.get("title") or "file")[:255],
                   filetype=obj.get("filetype"), mimetype=obj.get("mimetype"),
                   size=size if isinstance(size, int) else None, url=obj.get("url_private_download"))


class SharedFileImports:
    def __init__(self, engine: Engine, client: WebClient, *, importer: ImportService,
                 requester: Callable[[str], Requester], dm_channel: Callable[[str], str]) -> None:
        self._engine = engine
        self._client = client
        self._importer = importer
        self._requester = requester
        self._dm_channel = dm_channel

    # -- the share --------------------------------------------------------------------------------

    def shared(self, *, file_id: str, user_id: str, channel: str | None, file_obj: dict | None = None) -> None:
        """One share event (`file_shared` or a `message` with the file): the first one for a file
        id previews it, any later one (the other event, a retry, another replica) does nothing."""
        with session_scope(self._engine) as s:
            if not import_repo.claim_shared_file(session=s, file_id=file_id, user_id=user_id, channel=channel):
                log.debug("file %s already claimed", file_id)
                return
        reply_to = self._reply_channel(user_id, channel)
        requester = self._requester(user_id)
        in_channel = bool(channel) and not channel.startswith("D")
        if requester.role < Role.ADMIN and not in_channel:
            self._refuse(file_id, user_id, channel, "this file", NOT_ADMIN)
            return
        info = SharedFile.from_slack(file_obj) if file_obj and file_obj.get("url_private_download") else None
        if info is None:
            try:
                info = SharedFile.from_slack(self._client.files_info(file=file_id)["file"])
            except (SlackApiError, SlackClientError, OSError) as exc:
                # in a channel it may be anyone's picture: given back quietly (the `message` event of the
                # same share carries the file's details and is handled as a first one)
                self._release(file_id, user_id, channel, "this file",
                              f"Slack did not give me the file's details ({_slack_reason(exc)})", quiet=in_channel)
                return
        if in_channel and is_media(filetype=info.filetype, mimetype=info.mimetype):
            # a screenshot in a channel the bot is in (the alert channel): not shared for an import
            with session_scope(self._engine) as s:
                import_repo.move_shared_file(session=s, file_id=file_id, from_status=[ShareStatus.CLAIMED],
                                             to_status=ShareStatus.REFUSED, filename=info.name[:255])
            log.debug("file %s in %s is a picture/video/sound: not for import, nothing said", file_id, channel)
            return
        if requester.role < Role.ADMIN:
            self._refuse(file_id, user_id, channel, info.name, NOT_ADMIN)
            return
        why = refusal(name=info.name, filetype=info.filetype, mimetype=info.mimetype, size=info.size)
        if why:
            self._refuse(file_id, user_id, channel, info.name, why)
            return
        try:
            data = self._download(info)
            outcome = self._importer.run(self._request(info, data, requester, dry_run=True, skip_invalid=True))
        except RuntimeFailure as exc:  # Slack or the database failed, not the file: it may be shared again
            self._release(file_id, user_id, channel, info.name, str(exc).removeprefix(f"{info.name}: "))
            return
        except InputError as exc:
            self._refuse(file_id, user_id, channel, info.name, str(exc).removeprefix(f"{info.name}: "))
            return
        if outcome.rows_read and outcome.rejected == outcome.rows_read:
            first = "\n".join(e.text() for e in outcome.errors[:5])
            self._refuse(file_id, user_id, channel, info.name, f"no row of it is valid; the first errors:\n{first}")
            return
        # previewed before the message exists: its Import button may be clicked the moment it appears
        with session_scope(self._engine) as s:
            import_repo.move_shared_file(session=s, file_id=file_id, from_status=[ShareStatus.CLAIMED],
                                         to_status=ShareStatus.PREVIEWED, filename=info.name,
                                         sha256=hashlib.sha256(data).hexdigest(), format=outcome.format.value)
        text, preview = blocks.preview(outcome, SharedFileRef(file_id))
        posted = self._client.chat_postMessage(channel=reply_to, text=text, blocks=preview)
        with session_scope(self._engine) as s:
            import_repo.note_preview_message(session=s, file_id=file_id, channel=posted["channel"], ts=posted["ts"])

    # -- the buttons ------------------------------------------------------------------------------

    def confirm(self, ref: SharedFileRef, requester: Requester, *, approved_moves: set[str] | None,
                message: tuple[str, str] | None = None) -> None:
        """Import: re-download (the preview kept no copy), check it is the file previewed, import it
        for real, and replace the preview with the result. A second click finds it taken."""
        if requester.role < Role.ADMIN:
            raise PermissionDenied(NOT_ADMIN)
        with session_scope(self._engine) as s:
            row = import_repo.shared_file(session=s, file_id=ref.file_id)
            if row is None:
                raise InputError("this preview has expired; share the file again")
            # an import runs in one transaction: one left `importing` long ago died with its process
            # and wrote nothing, so it may be taken again
            taken = import_repo.move_shared_file(
                session=s, file_id=ref.file_id, from_status=[ShareStatus.PREVIEWED, ShareStatus.FAILED],
                to_status=ShareStatus.IMPORTING,
                stale=(ShareStatus.IMPORTING, datetime.now(UTC) - IMPORT_LEASE))
        if not taken:
            return  # imported, being imported or cancelled already (a double click): the message says so
        try:
            info = SharedFile.from_slack(self._client.files_info(file=ref.file_id)["file"])
            data = self._download(info)
            if hashlib.sha256(data).hexdigest() != row.sha256:
                raise InputError("the file changed since the preview; share it again")
            outcome = self._importer.run(self._request(info, data, requester, dry_run=False, skip_invalid=True,
                                                       approve=approved_moves))
        except Exception as exc:
            with session_scope(self._engine) as s:
                import_repo.move_shared_file(session=s, file_id=ref.file_id, from_status=[ShareStatus.IMPORTING],
                                             to_status=ShareStatus.FAILED)
            if isinstance(exc, (InputError, RuntimeFailure, PermissionDenied)):
                raise
            raise RuntimeFailure(f"the import of {row.filename} failed; nothing was written") from exc
        with session_scope(self._engine) as s:
            import_repo.move_shared_file(session=s, file_id=ref.file_id, from_status=[ShareStatus.IMPORTING],
                                         to_status=ShareStatus.IMPORTED, import_batch_id=outcome.batch_id)
        text, result = blocks.result(outcome, by=f"<@{requester.user_id}>")
        channel, ts = message or (row.channel, row.message_ts)
        self._client.chat_update(channel=channel, ts=ts, text=text, blocks=result)

    def cancel(self, ref: SharedFileRef, requester: Requester, *, message: tuple[str, str] | None = None) -> None:
        if requester.role < Role.ADMIN:
            raise PermissionDenied(NOT_ADMIN)
        with session_scope(self._engine) as s:
            row = import_repo.shared_file(session=s, file_id=ref.file_id)
            if row is None:
                raise InputError("this preview has expired")
            if not import_repo.move_shared_file(session=s, file_id=ref.file_id,
                                                from_status=[ShareStatus.PREVIEWED, ShareStatus.FAILED],
                                                to_status=ShareStatus.CANCELLED):
                return
        text, closed = blocks.closed(row.filename or "file", f"import cancelled by <@{requester.user_id}>; "
                                                             "nothing was written")
        channel, ts = message or (row.channel, row.message_ts)
        self._client.chat_update(channel=channel, ts=ts, text=text, blocks=closed)

    # -- helpers ----------------------------------------------------------------------------------

    def _request(self, info: SharedFile, data: bytes, requester: Requester, *, dry_run: bool, skip_invalid: bool,
                 approve: set[str] | None = None) -> ImportRequest:
        return ImportRequest(filename=info.name, open=lambda: io.BytesIO(data), dry_run=dry_run,
                             skip_invalid=skip_invalid, created_by=requester.label, via="slack",
                             approve_moves=approve)

    def _download(self, info: SharedFile) -> bytes:
        """The file's bytes, with the bot token (Slack answers a login page without it); never
        more than the limit, whatever the metadata said."""
        if not info.url or not info.url.startswith(("https://", "http://")):
            raise InputError("Slack gave no download address for this file")
        if not _slack_host(urlsplit(info.url).hostname, urlsplit(self._client.base_url).hostname):
            # a file kept elsewhere (a Google Drive or Dropbox link shared as a file): the bot token is
            # for Slack only
            raise InputError("this file is not stored in Slack (a link to another service?); download it and "
                             "share the CSV itself")
        req = urllib.request.Request(info.url, headers={"Authorization": f"Bearer {self._client.token}"})
        try:
            with _DOWNLOADS.open(req, timeout=DOWNLOAD_TIMEOUT) as resp:
                if "text/html" in (resp.headers.get("Content-Type") or "") and not info.name.lower().endswith(".html"):
                    raise RuntimeFailure("Slack answered the download with a web page (is the files:read scope "
                                         "granted?)")
                data = resp.read(MAX_SHARED_BYTES + 1)
        except urllib.error.URLError as exc:
            raise RuntimeFailure(f"could not download the file from Slack ({getattr(exc, 'reason', exc)})") from None
        except (OSError, http.client.HTTPException) as exc:  # a timeout, a reset or a cut-off body mid-download
            raise RuntimeFailure(f"could not download the file from Slack ({type(exc).__name__})") from None
        if len(data) > MAX_SHARED_BYTES:
            raise InputError(f"the file is over {MAX_SHARED_BYTES // 1024 // 1024} MB; use `abacus import`")
        return data

    def _reply_channel(self, user_id: str, channel: str | None) -> str:
        """Previews go to the sharer's DM with the bot (they hold everyone's usage), also for a share in
        a channel."""
        if channel and channel.startswith("D"):
            return channel
        return self._dm_channel(user_id)

    def _refuse(self, file_id: str, user_id: str, channel: str | None, name: str, why: str) -> None:
        with session_scope(self._engine) as s:
            import_repo.move_shared_file(session=s, file_id=file_id, from_status=[ShareStatus.CLAIMED],
                                         to_status=ShareStatus.REFUSED, filename=name[:255])
        self._tell_refused(user_id, channel, file_id, name, why)

    def _release(self, file_id: str, user_id: str, channel: str | None, name: str, why: str, *,
                 quiet: bool = False) -> None:
        """A failure that is not the file's (Slack or the database): the claim is given back, so
        sharing the file again tries again instead of finding it taken for good."""
        log.warning("could not preview shared file %s: %s", file_id, why)
        with session_scope(self._engine) as s:
            import_repo.release_shared_file(session=s, file_id=file_id)
        if not quiet:
            self._tell_refused(user_id, channel, file_id, name, f"{why}; share it again to retry")

    def _tell_refused(self, user_id: str, channel: str | None, file_id: str, name: str, why: str) -> None:
        text, refused = blocks.refused(name, why)
        try:
            if channel and not channel.startswith("D"):
                self._client.chat_postEphemeral(channel=channel, user=user_id, text=text, blocks=refused)
            else:
                self._client.chat_postMessage(channel=self._reply_channel(user_id, channel), text=text,
                                              blocks=refused)
        except SlackApiError as exc:
            log.warning("could not tell %s why %s was refused: %s", user_id, file_id, exc.response.get("error"))


def _slack_host(host: str | None, api_host: str | None) -> bool:
    """A host of Slack's (files.slack.com, files.slack-gov.com …) or of the configured Slack API."""
    host = (host or "").lower().rstrip(".")
    homes = {"slack.com", "slack-gov.com", (api_host or "").lower().rstrip(".")} - {""}
    return any(host == home or host.endswith("." + home) for home in homes)


class _TokenStaysWithTheHost(urllib.request.HTTPRedirectHandler):
    """urllib copies every header onto a redirect, wherever it points: the bot token goes only to
    the host it was meant for (over https when it started there), as `requests` does."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        old_url, new_url = urlsplit(req.full_url), urlsplit(new.full_url if new is not None else newurl)
        if new is not None and (new_url.hostname != old_url.hostname
                                or (old_url.scheme == "https" and new_url.scheme != "https")):
            new.remove_header("Authorization")
        return new


_DOWNLOADS = urllib.request.build_opener(_TokenStaysWithTheHost)


def _slack_reason(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or exc.response.status_code)
    return type(exc).__name__


__all__ = ["FileInvalid", "FileRejected", "SharedFile", "SharedFileImports"]
