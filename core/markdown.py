"""People's text in the bot's comments: shown as written, never turned into markup.

Every comment Steward writes is Markdown that GitHub renders, and GitHub then acts on
what it rendered: an ``@login`` or ``@org/team`` outside code and links notifies that
person or team, ``owner/repo#12`` and a URL to another repository's issue put a
cross-reference into that repository's timeline, ``![](url)`` and ``<img>`` load an
image, ``<!-- … -->`` hides text (and Steward's own markers are HTML comments), and a
run of backticks in a title closes the code span it was quoted in. Text a person wrote
(a comment, a title, a label, a path, a login we did not check) therefore goes into a
comment only through this module:

- :func:`inert` for running text: it renders as exactly the characters it holds;
- :func:`code` for text shown in a code span: a fence longer than any backtick run
  inside, padded when the text starts or ends with a backtick;
- :func:`mention` for the deliberate mentions (the welcomed author, the person a
  reviewer suggestion or a follow-up names): only a login that fits GitHub's rule
  becomes ``@login``; anything else is shown inert.

GitHub's rule, as its mention filter applies it to the rendered HTML: ``@`` must be
followed directly by a login character (``[A-Za-z0-9]``), must not follow a word
character or a backtick, and is ignored inside ``code``, ``pre`` and ``a`` elements.
A ``@`` followed by U+200D ZERO WIDTH JOINER therefore notifies nobody and looks the
same (the approach of Dependabot's release-note sanitizer, there with U+200B). The
joiner also goes inside code spans: mail clients show a reply as plain text, where a
code span is no protection.

Format characters (Unicode category Cf: bidirectional overrides and isolates, zero-width
spaces and joiners, the byte-order mark) and control characters are removed from
people's text first, so nothing can reorder or hide what a reader sees and no joiner of
theirs survives to be confused with ours. Line breaks become spaces: the result is
inline text, for one line of a comment.

No pattern here backtracks: fixed strings and single-character look-arounds only, so
the cost grows with the length of the text and nothing else.
"""

from __future__ import annotations

import html
import re
import unicodedata

#: What Steward puts after ``@`` (and into other references) so GitHub links nothing.
JOINER = "\u200d"
#: A GitHub login: letters, digits and single hyphens, no hyphen first or last, at most
#: 39 characters (GitHub's sign-up rule; :func:`mention` checks it with ``str`` methods).
LOGIN_MAX = 39
_LOGIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
#: ASCII punctuation that starts inline Markdown (emphasis, code, links, tables,
#: strikethrough, math, escapes); escaped with a backslash wherever it appears.
_INLINE = frozenset("\\`*_[]~|$")
#: Characters that start a block (heading, quote, list, setext underline, table) when
#: they come first on a line; escaped there.
_BLOCK_START = frozenset("#>+-=*|")
_LINE_BREAKS = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029")
#: Unicode categories dropped from people's text: format (bidi controls, zero-width
#: characters), controls and lone surrogates. Unassigned and private-use code points stay
#: (an emoji newer than Python's Unicode tables is unassigned to it).
_DROPPED = frozenset({"Cf", "Cc", "Cs"})


def _cleaned_char(char: str) -> str:
    """What one character that is not printable becomes: a space, itself or nothing."""
    if char in _LINE_BREAKS:
        return " "
    category = unicodedata.category(char)
    if category in _DROPPED:
        return ""
    return " " if category in ("Zl", "Zp") else char


#: ``owner/repo#12`` (and ``repo#12``): a ``#`` right after a name character and before
#: a digit refers to another repository. ``#12`` alone (after a space or punctuation)
#: is this repository's, and harmless.
_CROSS_REF = re.compile(r"(?<=[A-Za-z0-9_.-])#(?=[0-9])")
#: The two ways GitHub's autolinker recognises a bare URL.
_SCHEME = re.compile(r"(?<=[A-Za-z]):(?=//)")
_WWW = re.compile(r"(?i)(?<=www)\.")


def clean(text: str) -> str:
    """``text`` without format and control characters, line breaks as spaces."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _cleaned_char(char) for char in text)


def shorten(text: str, limit: int | None) -> str:
    """At most ``limit`` characters (the last one ``…`` when cut); None: all of it."""
    if limit is None or len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + "…"


def _unlink(text: str) -> str:
    """Mentions, cross-repository references and bare URLs broken with :data:`JOINER`."""
    text = text.replace("@", "@" + JOINER)
    text = _CROSS_REF.sub("#" + JOINER, text)
    text = _SCHEME.sub(":" + JOINER, text)
    return _WWW.sub(JOINER + ".", text)


def _escape_inline(text: str) -> str:
    """HTML escaped (``&``, ``<``, ``>``) and inline Markdown punctuation backslashed."""
    escaped = html.escape(text, quote=False)
    if not any(char in _INLINE for char in escaped):
        return escaped
    return "".join("\\" + char if char in _INLINE else char for char in escaped)


def _guard_block_start(text: str) -> str:
    """A backslash before what would start a block if the text began a line (a leading
    space as a character reference: indentation would make a code block or let a
    heading or a list through)."""
    if text[:1] == " ":
        return "&#32;" + text[1:]
    if text[:1] in _BLOCK_START:
        return "\\" + text
    digits = len(text) - len(text.lstrip("0123456789"))
    if 0 < digits <= 9 and text[digits : digits + 1] in (".", ")"):
        return text[:digits] + "\\" + text[digits:]
    return text


def inert(text: object, *, limit: int | None = None) -> str:
    """``text`` as inline Markdown that renders as exactly its characters (after
    :func:`clean`, and :data:`JOINER` after each ``@``): no mention, reference to
    another repository, link, image, HTML, emphasis, code or block. ``limit`` caps the
    visible length (``…`` at the cut).
    """
    return _guard_block_start(_inline(shorten(clean(str(text)), limit)))


def _inline(cleaned: str) -> str:
    """Cleaned text made inert where it does not start a line."""
    return _escape_inline(_unlink(cleaned))


def longest_run(text: str, char: str = "`") -> int:
    """The length of the longest run of ``char`` in ``text`` (0: none)."""
    return max(map(len, re.findall(re.escape(char) + "+", text)), default=0)


def code(text: object, *, limit: int | None = None) -> str:
    """``text`` as one code span that nothing in it can close: the fence is one
    backtick longer than the longest run inside, with a space inside each end when the
    text starts or ends with a backtick or a space (CommonMark strips one there).
    ``<!--`` and ``@`` get :data:`JOINER` so that no marker or mention survives even
    where the Markdown is read as plain text.
    """
    cleaned = shorten(clean(str(text)).strip(), limit)
    if not cleaned:
        return "` `"
    shown = cleaned.replace("@", "@" + JOINER).replace("<!", "<" + JOINER + "!")
    fence = "`" * (longest_run(shown) + 1)
    pad = " " if shown[0] in "` " or shown[-1] in "` " else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


def spans(text: object, *, limit: int | None = None) -> str:
    """Text whose backtick-quoted parts are meant as code spans (as the model library
    writes a path into a reason: ``touched `a/b.go` 3 times``), each part shown safely:
    the quoted parts through :func:`code`, the rest :func:`inert`. A backtick inside a
    quoted path only moves where the spans fall; nothing gets out of them.
    """
    first, *parts = shorten(clean(str(text)), limit).split("`")
    out = inert(first)
    for i, part in enumerate(parts):
        shown = code(part) if i % 2 == 0 else _inline(part)
        if shown:  # an empty part between two spans: the seam keeps their fences apart
            out += _seam(out, shown) + shown
    return out


def _seam(before: str, after: str) -> str:
    """:data:`JOINER` between running text and a code span that touch, or between two
    spans, unless a space parts them: people's backticks can cut ``org/repo#12`` or
    ``http://`` into text on both sides of a span (``org/repo``, an empty span, ``#12``),
    which GitHub links in no single text node but a reader of the text alone would see
    as one; two touching fences would read as one longer fence."""
    if not before or before[-1:].isspace() or after[:1].isspace():
        return ""
    return JOINER


def is_login(login: str) -> bool:
    """Whether ``login`` fits GitHub's rule for a user or organisation name."""
    if not 0 < len(login) <= LOGIN_MAX or not set(login) <= _LOGIN_CHARS:
        return False
    return not (login.startswith("-") or login.endswith("-") or "--" in login)


def mention(login: str) -> str:
    """A deliberate ``@login`` (it notifies them); a string that is not a GitHub login
    is shown :func:`inert` instead, so a mention names exactly one real account.
    """
    return f"@{login}" if is_login(login) else inert(login)
