"""Text of mail bodies: a text version of HTML, and the new part of a reply without its history.

Pure functions used by helpdesk.mailparse. The quote markers are the habits of the clients our
requesters use: Gmail, Outlook, Apple Mail, Thunderbird, in French and English (issue 3).
"""
from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

_BLOCK_TAGS = {
    "p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "hr", "section", "article", "header", "footer", "dt", "dd",
}
_SKIP_TAGS = {"script", "style", "head", "title", "template"}

# "On Mon, 23 Nov 2026 at 10:00, Jean <jean@x> wrote:" (Gmail, Apple Mail, Thunderbird).
_ON_WROTE = re.compile(r"^\s*On\b.{0,300}\bwrote\s*:\s*$", re.I)
# "Le lun. 23 nov. 2026 à 10:00, Jean <jean@x> a écrit :" (the same clients in French).
_LE_ECRIT = re.compile(r"^\s*Le\b.{0,300}\ba\s+[ée]crit\s*:\s*$", re.I)
_ORIGINAL = re.compile(
    r"^\s*-{2,}\s*(Original Message|Message d'origine|Mail original|Message original)\s*-{2,}\s*$", re.I
)
# Outlook puts a header block: "From: ... / Sent: ..." or "De : ... / Envoyé : ...".
_OUTLOOK_FROM = re.compile(r"^\s*\*?\s*(From|De)\s*:\s*\*?\s*\S", re.I)
_OUTLOOK_SENT = re.compile(r"^\s*\*?\s*(Sent|Envoy[ée]|Date)\s*:\s*\*?\s*\S", re.I)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")


class _TextExtractor(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag in _BLOCK_TAGS:
            self.out.append("\n")
        if tag == "li":
            self.out.append("- ")
        if tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.out.append(f"[{alt}]")

    def handle_endtag(self, tag):
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    """A readable text version of an HTML body (for mail that has no text part)."""
    if not html or not html.strip():
        return ""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient; this is a last resort for hostile input
        return unescape(re.sub(r"<[^>]*>", " ", html))
    lines = [" ".join(line.split()) for line in "".join(parser.out).replace("\xa0", " ").split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _quote_start(lines: list[str]) -> int | None:
    """Index of the first line of quoted history, or None."""
    for i, line in enumerate(lines):
        joined = line if i + 1 >= len(lines) else f"{line} {lines[i + 1]}"
        if _ON_WROTE.match(line) or _LE_ECRIT.match(line) or _ORIGINAL.match(line):
            return i
        # Gmail wraps a long attribution over two lines.
        if line.lstrip().startswith(("On ", "Le ")) and (_ON_WROTE.match(joined) or _LE_ECRIT.match(joined)):
            return i
        if _OUTLOOK_FROM.match(line) and any(_OUTLOOK_SENT.match(n) for n in lines[i + 1:i + 4]):
            start = i
            if i > 0 and _UNDERSCORES.match(lines[i - 1]):
                start = i - 1
            return start
    # A block of "> " lines that runs to the end, with no attribution line.
    for i, line in enumerate(lines):
        if line.startswith(">") and all(not rest.strip() or rest.startswith(">") for rest in lines[i:]):
            return i
    return None


def split_reply(text: str) -> str:
    """The new part of a reply, without the quoted history; the whole text when nothing is new."""
    lines = text.split("\n")
    start = _quote_start(lines)
    if start is None:
        return text.strip()
    new = "\n".join(lines[:start]).strip()
    return new or text.strip()
