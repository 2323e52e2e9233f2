"""Stored rich text's HTML cut down to what the admin may put into its own pages.

SonicJS and API clients store rich text as HTML, which may hold anything. The Markdown
preview, inserted into the admin's page, keeps text structure, links and images only
(``clean_html``). The HTML editor's starting content (``clean_editor_html``) loses much
less: Quill parses it in a detached document, where nothing runs or loads, and only the
page's Content-Security-Policy asks for anything to go (inline styles and event
attributes); what Quill would keep and the cleaning removed, the first keystroke would
save as lost.
"""

import re

# What a preview keeps of the HTML rich text holds (SonicJS and API clients store rich text
# as HTML): text structure, links and images only. Scripts, styles, frames, forms and every
# event attribute are dropped, so the preview, inserted into the admin's page, runs nothing.
PREVIEW_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "del", "div", "em", "figcaption", "figure",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p",
    "pre", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul",
})
PREVIEW_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
}
PREVIEW_URL_SCHEMES = frozenset({"http", "https", "mailto"})


def clean_html(html):
    """``html`` with only ``PREVIEW_TAGS`` and ``PREVIEW_ATTRIBUTES`` kept (links to
    ``PREVIEW_URL_SCHEMES`` or relative ones, each given ``rel="noopener noreferrer"``), and
    what script and style elements hold dropped, not only their tags."""
    import nh3

    return nh3.clean(
        html, tags=set(PREVIEW_TAGS), attributes=PREVIEW_ATTRIBUTES,
        clean_content_tags={"script", "style"}, url_schemes=set(PREVIEW_URL_SCHEMES),
        link_rel="noopener noreferrer",
    )


# What the HTML editor's starting copy keeps: the tags Quill 2 reads (and text structure it
# reads as text), with the attributes its formats are made of. Bullet lists are
# ``<ol><li data-list="bullet">`` in Quill 2's own markup, a code block's language is
# ``data-language``, alignment and indents are ``ql-*`` classes, and a pasted image is often
# a ``data:`` URL. Styles and event attributes go (the Content-Security-Policy refuses them).
EDITOR_TAGS = PREVIEW_TAGS | frozenset({"strike"})
EDITOR_ATTRIBUTES = {
    "*": {"class"},
    "a": {"href", "title", "target"},
    "img": {"src", "alt", "title", "width", "height"},
    "li": {"data-list"},
    "pre": {"data-language"},
    "div": {"data-language"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
}
EDITOR_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "sms", "data"})
EDITOR_LINK_SCHEMES = EDITOR_URL_SCHEMES - {"data"}

# What a browser's URL parser ignores before reading a scheme: tabs and line breaks
# anywhere, C0 controls and spaces in front ("da&#9;ta:" and "&#1;data:" are "data:").
_URL_IGNORED = re.compile(r"[\t\n\r]")
_URL_LEADING = "".join(map(chr, range(0x21)))
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def link_scheme(href):
    """The scheme a browser reads in ``href``, lower-cased; None for a relative link."""
    found = _SCHEME.match(_URL_IGNORED.sub("", href).lstrip(_URL_LEADING))
    return found.group(1).lower() if found else None


def _editor_attribute(tag, attribute, value):
    """``value`` of ``attribute`` as the editor's copy keeps it (None drops it): only Quill's
    own ``ql-*`` classes, and ``data:`` URLs only as an image's source (a link's scheme is
    read as a browser reads it, whatever hides it)."""
    if attribute == "class":
        kept = " ".join(name for name in value.split() if name.startswith("ql-"))
        return kept or None
    if attribute == "href" and link_scheme(value) not in {None, *EDITOR_LINK_SCHEMES}:
        return None
    return value


def clean_editor_html(html):
    """``html`` as the HTML editor starts from it: ``EDITOR_TAGS`` with ``EDITOR_ATTRIBUTES``
    (only ``ql-*`` classes; links to ``EDITOR_URL_SCHEMES`` but ``data:``, which only an
    image may use), without what script and style elements hold."""
    import nh3

    return nh3.clean(
        html, tags=set(EDITOR_TAGS), attributes=EDITOR_ATTRIBUTES, attribute_filter=_editor_attribute,
        clean_content_tags={"script", "style"}, url_schemes=set(EDITOR_URL_SCHEMES), link_rel=None,
    )
