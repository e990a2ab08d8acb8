"""Telegram text formatting: HTML, MarkdownV2 and legacy Markdown parsing, plus auto-entities.

The parsers follow TDLib's ``parse_html`` / ``parse_markdown_v2`` / ``parse_markdown`` closely,
including their error texts and *byte* offsets, because bots are usually debugged by comparing
the error they got in production with the one the sandbox gives. Entity offsets and lengths are
in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import re
from typing import Any

Entity = dict[str, Any]

_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "span",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
_HTML_TYPES = {
    "a": "text_link",
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'", "nbsp": "\xa0"}
_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_CODE_RESERVED = frozenset("`")
_MDV2_TYPE_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}
_URL_RE = re.compile(
    r"^(?:(?:https?|ftp)://(?:[^\s/?#@]+@)?[A-Za-z0-9\-._~%\[\]:]+(?::\d{1,5})?(?:[/?#]\S*)?"
    r"|tg://[A-Za-z0-9_]+(?:\?\S*)?"
    r"|(?:[A-Za-z0-9\-]+\.)+[A-Za-z]{2,}(?::\d{1,5})?(?:[/?#]\S*)?)$"
)


class ParseError(Exception):
    """Markup could not be parsed; ``str(exc)`` is TDLib's detail message."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (what Telegram counts)."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _u16(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def is_valid_url(url: str) -> bool:
    """A URL Telegram would accept for a link or a URL button (http(s), ftp, tg, bare domain)."""
    return bool(url) and len(url) <= 2048 and _URL_RE.match(url) is not None


def _link_entity(url: str, offset: int, length: int) -> Entity | None:
    match = re.fullmatch(r"tg://user\?id=(\d+)", url)
    if match:
        # A text_mention needs the full user; the world fills it in (or drops it) later.
        return {
            "type": "text_mention",
            "offset": offset,
            "length": length,
            "user": {"id": int(match.group(1))},
        }
    if not is_valid_url(url):
        return None  # TDLib silently drops links with invalid URLs.
    if "://" not in url:
        url = "http://" + url
    return {"type": "text_link", "offset": offset, "length": length, "url": url}


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def _decode_html_entity(text: str, i: int) -> tuple[str, int] | None:
    """Decode ``&...;`` at ``text[i]``; return (character, index after it) or None."""
    end = text.find(";", i + 1, i + 12)
    if end == -1:
        return None
    name = text[i + 1 : end]
    if name.startswith("#"):
        try:
            code = int(name[2:], 16) if name[1:2] in ("x", "X") else int(name[1:])
        except ValueError:
            return None
        if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        return chr(code), end + 1
    char = _HTML_NAMED_ENTITIES.get(name)
    return (char, end + 1) if char is not None else None


def _parse_attributes(text: str, i: int, tag: str, begin: int) -> tuple[dict[str, str], int]:
    """Parse attributes of a start tag; ``i`` points just after the tag name."""
    attrs: dict[str, str] = {}
    n = len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise ParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        if text[i] == ">":
            return attrs, i + 1
        name_start = i
        while i < n and not text[i].isspace() and text[i] not in "=>":
            i += 1
        name = text[name_start:i].lower()
        if not name:
            raise ParseError(
                f'Empty attribute name in the tag "{tag}" '
                f"at byte offset {_byte_offset(text, begin)}"
            )
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise ParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        if text[i] != "=":
            attrs[name] = ""  # valueless attribute, e.g. <blockquote expandable>
            continue
        i += 1
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise ParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        if text[i] not in "'\"":
            value_start = i
            while i < n and (text[i].isalnum() or text[i] in ".-_"):
                i += 1
            value = text[value_start:i].lower()
            if i >= n or (not text[i].isspace() and text[i] != ">"):
                raise ParseError(
                    f"Unexpected end of name token at byte offset {_byte_offset(text, value_start)}"
                )
        else:
            quote = text[i]
            i += 1
            chars: list[str] = []
            while i < n and text[i] != quote:
                if text[i] == "&":
                    decoded = _decode_html_entity(text, i)
                    if decoded is not None:
                        chars.append(decoded[0])
                        i = decoded[1]
                        continue
                chars.append(text[i])
                i += 1
            if i >= n:
                raise ParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
            i += 1
            value = "".join(chars)
        attrs[name] = value


def parse_html(text: str, *, strict_ampersand: bool = True) -> tuple[str, list[Entity]]:
    """Parse Telegram HTML into plain text and entities, raising ParseError like TDLib."""
    out: list[str] = []
    entities: list[Entity] = []
    # Open tags: (tag name, entity type, utf16 start, argument)
    stack: list[tuple[str, str, int, dict[str, str]]] = []
    offset = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "&":
            decoded = _decode_html_entity(text, i)
            if decoded is not None:
                out.append(decoded[0])
                offset += _u16(decoded[0])
                i = decoded[1]
                continue
            if strict_ampersand:
                raise ParseError(
                    f"Unescaped '&' at byte offset {_byte_offset(text, i)}; use &amp; instead"
                )
        if ch != "<":
            out.append(ch)
            offset += _u16(ch)
            i += 1
            continue
        begin = i
        if i + 1 < n and text[i + 1] == "/":
            if not stack:
                raise ParseError(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
            i += 2
            while i < n and not text[i].isspace() and text[i] != ">":
                i += 1
            end_name = text[begin + 2 : i].lower()
            while i < n and text[i].isspace():
                i += 1
            if i >= n or text[i] != ">":
                raise ParseError(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
            i += 1
            tag, etype, start, attrs = stack.pop()
            if end_name and end_name != tag:
                raise ParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{tag}>", found "</{end_name}>"'
                )
            _close_html_entity(entities, tag, etype, start, offset - start, attrs)
            continue
        i += 1
        while i < n and not text[i].isspace() and text[i] != ">":
            i += 1
        if i >= n:
            raise ParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        tag = text[begin + 1 : i].lower()
        if tag not in _HTML_TAGS:
            raise ParseError(
                f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, begin)}'
            )
        attrs, i = _parse_attributes(text, i, tag, begin)
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise ParseError(
                'Tag "span" must have class "tg-spoiler" '
                f"at byte offset {_byte_offset(text, begin)}"
            )
        if tag == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise ParseError(f"Custom emoji identifier must be non-empty at byte offset {begin}")
        stack.append((tag, _HTML_TYPES[tag], offset, attrs))
    if stack:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(out), _merge_pre_code(entities)


def _close_html_entity(
    entities: list[Entity], tag: str, etype: str, start: int, length: int, attrs: dict[str, str]
) -> None:
    if length <= 0:
        return
    if tag == "a":
        link = _link_entity(attrs.get("href", ""), start, length)
        if link is not None:
            entities.append(link)
        return
    entity: Entity = {"type": etype, "offset": start, "length": length}
    if tag == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif tag == "code" and attrs.get("class", "").startswith("language-"):
        entity["language"] = attrs["class"][len("language-") :]
    elif tag == "tg-emoji":
        entity["custom_emoji_id"] = attrs["emoji-id"]
    entities.append(entity)


def _merge_pre_code(entities: list[Entity]) -> list[Entity]:
    """``<pre><code class="language-x">`` is one pre entity with a language, as in TDLib."""
    pres = {(e["offset"], e["length"]): e for e in entities if e["type"] == "pre"}
    if not pres:
        return entities
    merged: list[Entity] = []
    for entity in entities:
        key = (entity["offset"], entity["length"])
        if entity["type"] == "code" and key in pres:
            if "language" in entity:
                pres[key]["language"] = entity["language"]
            continue
        merged.append(entity)
    return merged


# --------------------------------------------------------------------------------------------
# MarkdownV2
# --------------------------------------------------------------------------------------------


def _reserved_error(char: str) -> ParseError:
    return ParseError(f"Character '{char}' is reserved and must be escaped with the preceding '\\'")


def parse_markdown_v2(text: str) -> tuple[str, list[Entity]]:
    """Parse MarkdownV2 into plain text and entities, raising ParseError like TDLib."""
    out: list[str] = []
    entities: list[Entity] = []
    # Open entities: (type, utf16 start, byte offset of the marker, index in out, argument)
    stack: list[tuple[str, int, int, int, str]] = []
    quote_start: int | None = None
    offset = 0
    n = len(text)
    i = 0

    def at(k: int) -> str:
        return text[k] if k < n else ""

    while i < n:
        ch = text[i]
        line_start = i == 0 or text[i - 1] == "\n"
        if ch == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.append(text[i + 1])
            offset += 1
            i += 2
            continue
        if ch == "\n" and quote_start is not None and at(i + 1) != ">":
            # A block quote runs to the end of the last consecutive line starting with ">".
            if offset > quote_start:
                entities.append(
                    {"type": "blockquote", "offset": quote_start, "length": offset - quote_start}
                )
            quote_start = None
        if ch == ">" and line_start and not (stack and stack[-1][0] in ("code", "pre")):
            if quote_start is None:
                quote_start = offset
            i += 1
            continue
        top = stack[-1][0] if stack else None
        reserved = _MDV2_CODE_RESERVED if top in ("code", "pre") else _MDV2_RESERVED
        if ch not in reserved:
            out.append(ch)
            offset += _u16(ch)
            i += 1
            continue
        is_end = False
        if top is not None:
            if top == "bold":
                is_end = ch == "*"
            elif top == "italic":
                is_end = ch == "_" and at(i + 1) != "_"
            elif top == "code":
                is_end = ch == "`"
            elif top == "pre":
                is_end = ch == "`" and at(i + 1) == "`" and at(i + 2) == "`"
            elif top in ("text_link", "custom_emoji"):
                is_end = ch == "]"
            elif top == "underline":
                is_end = ch == "_" and at(i + 1) == "_"
            elif top == "strikethrough":
                is_end = ch == "~"
            elif top == "spoiler":
                is_end = ch == "|" and at(i + 1) == "|"
        if not is_end:
            marker_pos = i
            argument = ""
            if ch == "_":
                if at(i + 1) == "_":
                    etype = "underline"
                    i += 1
                else:
                    etype = "italic"
            elif ch == "*":
                etype = "bold"
            elif ch == "~":
                etype = "strikethrough"
            elif ch == "|":
                if at(i + 1) != "|":
                    raise _reserved_error(ch)
                etype = "spoiler"
                i += 1
            elif ch == "[":
                etype = "text_link"
            elif ch == "`":
                if at(i + 1) == "`" and at(i + 2) == "`":
                    etype = "pre"
                    i += 3
                    lang_end = i
                    while lang_end < n and not text[lang_end].isspace() and text[lang_end] != "`":
                        lang_end += 1
                    if i != lang_end and lang_end < n and text[lang_end] != "`":
                        argument = text[i:lang_end]
                        i = lang_end
                    if at(i) in ("\n", "\r"):
                        i += 2 if at(i + 1) in ("\n", "\r") and at(i + 1) != at(i) else 1
                    i -= 1
                else:
                    etype = "code"
            elif ch == "!" and at(i + 1) == "[":
                etype = "custom_emoji"
                i += 1
            else:
                raise _reserved_error(ch)
            stack.append((etype, offset, _byte_offset(text, marker_pos), len(out), argument))
            i += 1
            continue
        etype, start, _, out_index, argument = stack.pop()
        skip = offset == start
        entity: Entity | None = None
        if etype in ("underline", "spoiler"):
            i += 1
        elif etype == "pre":
            i += 2
        elif etype in ("text_link", "custom_emoji"):
            url_chars: list[str] = []
            if at(i + 1) != "(":
                url = "".join(out[out_index:])
            else:
                i += 2
                url_begin = i
                while i < n and text[i] != ")":
                    if text[i] == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
                        url_chars.append(text[i + 1])
                        i += 2
                        continue
                    url_chars.append(text[i])
                    i += 1
                if i >= n:
                    raise ParseError(
                        f"Can't find end of a URL at byte offset {_byte_offset(text, url_begin)}"
                    )
                url = "".join(url_chars)
            if etype == "custom_emoji":
                emoji_id = url.removeprefix("tg://emoji?id=")
                if not emoji_id.isdigit():
                    raise ParseError("Custom emoji URL must have an emoji identifier")
                entity = {"type": "custom_emoji", "custom_emoji_id": emoji_id}
            elif not skip:
                entity = _link_entity(url, start, offset - start)
                skip = entity is None
        if not skip:
            if entity is None:
                entity = {"type": etype}
                if etype == "pre" and argument:
                    entity["language"] = argument
            entity["offset"] = start
            entity["length"] = offset - start
            entities.append(entity)
        i += 1
    if stack:
        etype, _, byte_pos, _, _ = stack[-1]
        raise ParseError(
            f"Can't find end of {_MDV2_TYPE_NAMES[etype]} entity at byte offset {byte_pos}"
        )
    if quote_start is not None and offset > quote_start:
        entities.append(
            {"type": "blockquote", "offset": quote_start, "length": offset - quote_start}
        )
    return "".join(out), entities


# --------------------------------------------------------------------------------------------
# Legacy Markdown
# --------------------------------------------------------------------------------------------


def parse_markdown(text: str) -> tuple[str, list[Entity]]:
    """Parse legacy Markdown (``parse_mode=Markdown``) like TDLib."""
    out: list[str] = []
    entities: list[Entity] = []
    offset = 0
    n = len(text)
    i = 0

    def at(k: int) -> str:
        return text[k] if k < n else ""

    while i < n:
        ch = text[i]
        if ch == "\\" and at(i + 1) in ("_", "*", "`", "["):
            out.append(text[i + 1])
            offset += 1
            i += 2
            continue
        if ch not in "_*`[":
            out.append(ch)
            offset += _u16(ch)
            i += 1
            continue
        begin = i
        end_char = "]" if ch == "[" else ch
        is_pre = False
        language = ""
        i += 1
        if ch == "`" and at(i) == "`" and at(i + 1) == "`":
            i += 2
            is_pre = True
            lang_end = i
            while lang_end < n and not text[lang_end].isspace() and text[lang_end] != "`":
                lang_end += 1
            if i != lang_end and lang_end < n and text[lang_end] != "`":
                language = text[i:lang_end]
                i = lang_end
            if at(i) in ("\n", "\r"):
                i += 2 if at(i + 1) in ("\n", "\r") and at(i + 1) != at(i) else 1
        start = offset
        while i < n and (text[i] != end_char or (is_pre and not (at(i + 1) == at(i + 2) == "`"))):
            out.append(text[i])
            offset += _u16(text[i])
            i += 1
        if i >= n:
            raise ParseError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        if offset != start:
            length = offset - start
            if ch == "_":
                entities.append({"type": "italic", "offset": start, "length": length})
            elif ch == "*":
                entities.append({"type": "bold", "offset": start, "length": length})
            elif ch == "[":
                if at(i + 1) == "(":
                    close = text.find(")", i + 2)
                    url = text[i + 2 : close if close != -1 else n]
                    i = close if close != -1 else n - 1
                else:
                    url = text[begin + 1 : i]
                link = _link_entity(url, start, length)
                if link is not None:
                    entities.append(link)
            elif is_pre:
                entity: Entity = {"type": "pre", "offset": start, "length": length}
                if language:
                    entity["language"] = language
                entities.append(entity)
            else:
                entities.append({"type": "code", "offset": start, "length": length})
        if is_pre:
            i += 2
        i += 1
    return "".join(out), entities


# --------------------------------------------------------------------------------------------
# Post-processing shared by all modes
# --------------------------------------------------------------------------------------------


def parse(text: str, parse_mode: str | None, *, strict_ampersand: bool) -> tuple[str, list[Entity]]:
    """Dispatch on a (case-insensitive) parse mode; raises ValueError for an unknown mode."""
    if not parse_mode:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        return parse_html(text, strict_ampersand=strict_ampersand)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise ValueError(parse_mode)


def strip_text(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Trim surrounding whitespace as Telegram does, clipping entities to the kept text."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    if not stripped:
        return "", []
    lead = utf16_len(text[: text.index(stripped[0])]) if text[0].isspace() else 0
    total = utf16_len(stripped)
    clipped: list[Entity] = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            clipped.append({**entity, "offset": start, "length": end - start})
    return stripped, clipped


_AUTO_RE = re.compile(
    r"(?P<bot_command>(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/]))"
    r"|(?P<email>(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?!\w))"
    r"|(?P<mention>(?<![\w@])@[A-Za-z0-9_]{3,32}(?!\w))"
    r"|(?P<hashtag>(?<![\w#])#\w*[^\W\d]\w*)"
    r"|(?P<url>(?<![\w@/.])(?:(?:https?|ftp)://[^\s<>\"]+"
    r"|(?:[A-Za-z0-9-]+\.)+(?:com|org|net|nl|eu|be|de|io|info|gov|edu|app|dev|me)"
    r"(?::\d{1,5})?(?:/[^\s<>\"]*)?)(?<![.,;:!?)]))"
)
# Auto-detection does not look inside these (TDLib skips code, links and explicit mentions).
_OPAQUE = frozenset({"code", "pre", "text_link", "text_mention", "url", "email", "custom_emoji"})


def _utf16_index(text: str) -> list[int] | None:
    """Prefix UTF-16 offsets per str index, or None when they coincide (all BMP)."""
    if text.isascii() or all(ord(ch) <= 0xFFFF for ch in text):
        return None
    prefix = [0]
    for ch in text:
        prefix.append(prefix[-1] + _u16(ch))
    return prefix


def add_auto_entities(text: str, entities: list[Entity]) -> list[Entity]:
    """Add the entities Telegram detects itself (commands, mentions, hashtags, URLs, e-mails)."""
    if not any(ch in text for ch in "/@#.") or not text:
        return sorted(entities, key=_entity_order) if entities else entities
    index = _utf16_index(text)
    opaque = [(e["offset"], e["offset"] + e["length"]) for e in entities if e["type"] in _OPAQUE]
    found = list(entities)
    for match in _AUTO_RE.finditer(text):
        start, end = match.span()
        if index is not None:
            start, end = index[start], index[end]
        if any(start < o_end and o_start < end for o_start, o_end in opaque):
            continue
        found.append({"type": match.lastgroup, "offset": start, "length": end - start})
    return sorted(found, key=_entity_order)


def _entity_order(entity: Entity) -> tuple[int, int]:
    return entity["offset"], -entity["length"]
