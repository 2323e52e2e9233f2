"""``html_pattern``: which field patterns go on a form's page as its ``pattern`` attribute.

Every accepted pattern is also compiled by a JavaScript engine with the ``v`` and the ``u``
flag, and matched against sample values beside RE2, where node is installed (the browser
test of the form page compiles them in Chromium as well)."""

import json
import shutil
import subprocess

import pytest

from app.services.pattern_attribute import html_pattern
from app.services.patterns import compile_pattern

ACCEPTED = {
    r"^\d{5}$": r"^\d{5}$",
    r"^[A-Z]{2}-\d{3,4}$": r"^[A-Z]{2}-\d{3,4}$",
    r"^\d{3}\-\d{4}$": r"^\d{3}-\d{4}$",
    r"^[a-z0-9_]+$": r"^[a-z0-9_]+$",
    r"^[^@]+@example\.org$": r"^[^@]+@example\.org$",
    r"^(?:yes|no)$": r"^(?:yes|no)$",
    r"^(red|green|blue)?$": r"^(red|green|blue)?$",
    r"^\S+$": r"^[^\t\n\f\r ]+$",
    r"^[\s,]*$": r"^[\t\n\f\r ,]*$",
    r"^.{2,}$": r"^[^\n]{2,}$",
    r"^a.*?b$": r"^a[^\n]*?b$",
    r"^\$\d+(\.\d\d)?$": r"^\$\d+(\.\d\d)?$",
    r"^https?://\S+$": r"^https?://[^\t\n\f\r ]+$",
    r"^\(\d{3}\) \d{3}$": r"^\(\d{3}\) \d{3}$",
    r"^[\-+]?\d+$": r"^[\-+]?\d+$",
    r"^[\[\]]$": r"^[\[\]]$",
    r"^[\/\\]$": r"^[\/\\]$",
    r"^[!-~]+$": r"^[!-~]+$",
    r"^[\D\W]$": r"^[\D\W]$",
    r"^é[à-ÿ]{1,3}€$": r"^é[à-ÿ]{1,3}€$",
    r"^a/b$": r"^a/b$",
    r"^\@x\#$": r"^@x#$",
    r"^\\$": r"^\\$",
    r"^\_$": r"^_$",
    r"^$": r"^$",
    r"^()(?:)$": r"^()(?:)$",
    # What a backtracking engine matches in time linear in the value, or in a few ways each
    r"^(ab)*$": r"^(ab)*$",
    r"^(\d{3}-){2}\d{4}$": r"^(\d{3}-){2}\d{4}$",
    r"^(a{2})+$": r"^(a{2})+$",
    r"^(a+|b)?c$": r"^(a+|b)?c$",
    r"^(\w+\s?){1}$": r"^(\w+[\t\n\f\r ]?){1}$",
    r"^(a*){0,1}$": r"^(a*){0,1}$",
    r"^a?b?c?\d{2,3}[a-z]{1,9}$": r"^a?b?c?\d{2,3}[a-z]{1,9}$",
}

REJECTED = [
    None, 12, "", "^", "$",
    r"\d{5}",            # searched by the server, matched whole by the browser
    r"^\d{5}", r"\d{5}$",
    r"^a|b$", r"^a$|^b$",  # alternation outside a group: neither branch anchored at both ends
    r"^(a$|b)$", r"^a^b$", r"^abc\$",
    r"^(?P<zip>\d{5})$", r"^(?<zip>\d{5})$",  # named groups
    r"^(?i)abc$", r"^(?i:abc)$", r"^(?s).$",  # flags
    r"^(?=a)a$", r"^(?!a)b$", r"^(?<=a)b$",  # lookaround (RE2 refuses it too)
    r"^(a)\1$",          # backreference
    r"^\p{L}+$", r"^\pL$", r"^\P{L}$",
    r"^\bword\b$", r"^\Aabc\z$", r"^\x41$", r"^\u0041$", r"^\n$", r"^\t$", r"^\Qa.b\E$", r"^\C$",
    r"^[a-z-]+$", r"^[-a]$", r"^[a-z0-9_-]+$",  # a "-" the v flag takes as syntax
    r"^[(]$", r"^[)]$", r"^[{}]$", r"^[/]$", r"^[|]$", r"^[a[]$", r"^[a^]$",
    r"^[&&]$", r"^[a!!]$", r"^[..]$", r"^[+-..]$",  # doubled punctuation the v flag reserves
    r"^[]a]$", r"^[^]a]$", r"^[]$",
    r"^[\S]$", r"^[\d-z]$", r"^[a-\d]$", r"^[z-a]$", r"^[\&]$", r"^[\p{L}]$", r"^[[:alpha:]]$",
    r"^a{,3}$", r"^a{3,2}$", r"^a{1001}$", r"^a{x}$", r"^a{$", r"^a}$", r"^]$",
    r"^a**$", r"^a{2}{3}$", r"^a*+$", r"^*a$", r"^(*)$", r"^a|*$",
    r"^(a$", r"^a)$", r"^(?:a$",
    "^a\tb$", "^a\x00$", "^\ud800$",  # controls and lone surrogates
    r"^a\ b$", r"^\9$",
    # A varying group repeated: exponential time in a backtracking engine (the browser's)
    r"^(\w+\s?)+$", r"^(a|a)*$", r"^(a{1,2})*$", r"^(a+)+b$", r"^(a+)+?b$", r"^\w+(\s\w+)*$",
    r"^(?:a?){2}$", r"^((a)?)*$", r"^((ab)*)*$", r"^(?:a|b){2,}$", r"^(a*){1,2}$",
    # Too many ways to try for a value of the assumed length (the field declares no maxLength)
    r"^\w*\w*\w*$", r"^a+b+c{2,}$", r"^\w{1,9}(a*)\w+$",  # the cube of the length, or more
    r"^\w*\w*$", r"^\S+@\S+$",  # its square: seconds for a paste of 50,000 characters
    "^" + r"\w?" * 30 + "$", "^" + "a?" * 40 + "$", "^" + "a{0,1}" * 30 + "$",  # 2 ** 30 and more
    "^" + "(?:a|a)" * 25 + "$", "^" + "(?:a|a)" * 30 + "$", "^" + "(?:a|aa)" * 30 + "$",
    r"^\w*" + r"\w?" * 8 + r"\w*$",
    "^" + "a?" * 20 + "$",  # 2 ** 20: some 20 ms in V8 on every input event already
]


@pytest.mark.parametrize(("pattern", "attribute"), ACCEPTED.items())
def test_a_pattern_of_the_subset_becomes_its_attribute(pattern, attribute):
    assert html_pattern(pattern) == attribute


@pytest.mark.parametrize("pattern", REJECTED)
def test_a_pattern_outside_the_subset_has_no_attribute(pattern):
    assert html_pattern(pattern) is None


def test_a_declared_max_length_bounds_what_a_pattern_may_cost():
    two_wide = r"^\S+@\S+$"
    attribute = r"^[^\t\n\f\r ]+@[^\t\n\f\r ]+$"
    assert html_pattern(two_wide, 200) == attribute
    assert html_pattern(two_wide) is None and html_pattern(two_wide, 100_000) is None
    assert html_pattern(two_wide, True) is None and html_pattern(two_wide, "200") is None  # no usable maxlength
    assert html_pattern("^" + "a?" * 40 + "$", 40) is None  # choices do not shrink with the length


SAMPLES = ["", "12345", "1234", "AB-123", "a b", "a\u00a0b", "a\u2028b", "a\rb", "x@example.org", "yes", "no",
           "maybe", "$12.50", "https://x.example/", "(555) 123", "-7", "[", "/", "\\", "éàé€", "a/b", "@x#",
           "aXYZb", "red", "\u3000", "ab", "a\tb"]
NODE_CHECK = """
const [patterns, samples] = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = patterns.map((p) => {
  const v = new RegExp("^(?:" + p + ")$", "v"), u = new RegExp("^(?:" + p + ")$", "u");
  return samples.map((s) => [v.test(s), u.test(s)]);
});
process.stdout.write(JSON.stringify(out));
"""


def test_accepted_patterns_compile_and_match_in_javascript_as_in_re2():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    patterns = list(ACCEPTED)
    run = subprocess.run([node, "-e", NODE_CHECK], input=json.dumps([[ACCEPTED[p] for p in patterns], SAMPLES]),
                         capture_output=True, text=True, timeout=60, check=True)
    for pattern, results in zip(patterns, json.loads(run.stdout), strict=True):
        for sample, (with_v, with_u) in zip(SAMPLES, results, strict=True):
            expected = compile_pattern(pattern).search(sample) is not None
            assert (with_v, with_u) == (expected, expected), (pattern, sample)
