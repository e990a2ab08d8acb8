"""What the browser tests share: the bot's side of the Bot API, and checks on a page."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from bot.cli import SANDBOX_TOKEN
from sandbox.client import SandboxClient
from sandbox.server import SandboxServer

if TYPE_CHECKING:
    from playwright.async_api import Page

Json = dict[str, Any]
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
# A 1 by 1 PNG, as small as a chart can be.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


async def bot_call(sandbox: SandboxServer, method: str, **params: Any) -> Json:
    """The Bot API as a bot calls it (multipart when a file is given as (name, bytes))."""
    url = f"{sandbox.api_base_url}{SANDBOX_TOKEN}/{method}"
    async with aiohttp.ClientSession() as http:
        if any(isinstance(value, tuple) for value in params.values()):
            form = aiohttp.FormData()
            for key, value in params.items():
                if isinstance(value, tuple):
                    form.add_field(key, value[1], filename=value[0])
                else:
                    form.add_field(key, value if isinstance(value, str) else json.dumps(value))
            response = await http.post(url, data=form)
        else:
            response = await http.post(url, json=params)
        payload = await response.json()
    assert payload["ok"], payload
    return payload["result"]


async def presses(client: SandboxClient) -> list[Json]:
    """The button presses waiting for the bot, once there is one (up to 5 s): a click
    returns before the page's request has reached the sandbox."""
    found: list[Json] = []
    for _ in range(100):
        found = [
            u["callback_query"] for u in await client.pending_updates() if "callback_query" in u
        ]
        if found:
            break
        await asyncio.sleep(0.05)
    return found


async def axe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, one line each."""
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("async () => await axe.run(document)")
    return [
        f"{v['impact']}: {v['id']}: {v['help']} at "
        + ", ".join(" ".join(node["target"]) for node in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


# Run in the page: what a phone reader meets. Inline links inside a sentence are exempt
# from the target size, as WCAG 2.5.8 allows; every other control must be 40 px.
PHONE_CHECK = """() => {
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && style.visibility !== "hidden";
  };
  const small = [];
  for (const el of document.querySelectorAll("body *")) {
    if (!visible(el)) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const field = el.matches("input:not([type=checkbox]), select, button, textarea");
    const size = parseFloat(getComputedStyle(el).fontSize);
    if ((own || field) && size < 14) small.push(`${el.tagName}.${el.className} ${size}px`);
  }
  const tiny = [];
  const controls = "button, select, input:not([type=checkbox]), summary, a, [role=button], label.check";
  for (const el of document.querySelectorAll(controls)) {
    if (!visible(el) || el.closest(".body") || el.closest("label.check") && el.tagName === "INPUT") continue;
    const r = el.getBoundingClientRect();
    if (r.width < 40 || r.height < 40)
      tiny.push(`${el.tagName} "${el.textContent.trim().slice(0, 20)}" ${r.width}x${r.height}`);
  }
  const root = document.scrollingElement;
  return {
    overflow: Math.max(root.scrollWidth, document.body.scrollWidth) - window.innerWidth,
    small, tiny,
  };
}"""


async def phone_check(page: Page) -> Json:
    return await page.evaluate(PHONE_CHECK)
