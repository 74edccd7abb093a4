"""A small helper to drive the bot through the fake Slack and read its answers."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from tests.fakes.slack import DEFAULT_CHANNEL_ID, FakeSlack, ResponsePost, UploadedFile


def mrkdwn_texts(node) -> list[str]:
    """Every visible text string in a blocks payload."""
    if isinstance(node, dict):
        return [v if isinstance(v, str) else t for k, v in node.items() if k == "text" or not isinstance(v, str)
                for t in ([v] if isinstance(v, str) else mrkdwn_texts(v))]
    if isinstance(node, list):
        return [t for v in node for t in mrkdwn_texts(v)]
    return []


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@dataclass
class Answer:
    ack: dict
    latency: float
    response: ResponsePost
    files: list[UploadedFile]

    @property
    def text(self) -> str:
        body = self.response.body
        return "\n".join([body.get("text") or "", *mrkdwn_texts(body.get("blocks") or [])])

    @property
    def block_text(self) -> str:
        return "\n".join(mrkdwn_texts(self.response.body.get("blocks") or []))

    @property
    def blocks(self) -> list[dict]:
        return self.response.body.get("blocks") or []

    @property
    def ephemeral(self) -> bool:
        return self.response.body.get("response_type") == "ephemeral"


class Driver:
    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake

    def ask(self, text: str, *, user: str, channel: str = DEFAULT_CHANNEL_ID, files: int = 0,
            timeout: float = 20.0) -> Answer:
        """Send `/abacus text`, wait for the response_url answer and `files` uploads."""
        uploads_before = len(self.fake.uploaded_files())
        payload = self.fake.slash_command(text, user_id=user, channel_id=channel)
        response_id = payload["response_url"].rsplit("/", 1)[1]
        ack = self.fake.send(payload)
        latency = self.fake.injections[-1].latency
        response = self.fake.wait_response(lambda r: r.response_id == response_id, timeout=timeout)
        if files:
            self.fake.wait_for(lambda: len(self.fake.uploaded_files()) >= uploads_before + files, timeout,
                               f"{files} upload(s) for {text!r}")
        return Answer(ack, latency, response, self.fake.uploaded_files()[uploads_before:])

    def click(self, payload: dict, *, timeout: float = 20.0) -> ResponsePost:
        response_id = payload["response_url"].rsplit("/", 1)[1]
        self.fake.send(payload)
        return self.fake.wait_response(lambda r: r.response_id == response_id, timeout=timeout)
