"""Stored rich text's HTML cut down to what the admin may put into its own pages.

SonicJS and API clients store rich text as HTML, which may hold anything: the Markdown
preview and the HTML editor's starting content keep text structure, links and images only.
"""

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
