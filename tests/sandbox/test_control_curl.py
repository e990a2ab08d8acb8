"""The control API as a person types it with curl: JSON under a form content type."""

from __future__ import annotations

import aiohttp

from sandbox.server import SandboxServer


async def test_json_body_sent_as_a_form_is_read_as_json(server: SandboxServer) -> None:
    async with aiohttp.ClientSession() as session:
        # What `curl -d '{...}'` sends: JSON labelled application/x-www-form-urlencoded.
        async with session.post(
            f"{server.url}/sandbox/users",
            data='{"first_name": "Anna", "language_code": "nl"}',
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as response:
            created = await response.json()
        async with session.post(
            f"{server.url}/sandbox/users",
            data="{not json",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as response:
            broken = await response.json()
    assert created["ok"] is True
    assert created["result"]["first_name"] == "Anna"
    assert broken == {"ok": False, "description": "body is not valid JSON"}
