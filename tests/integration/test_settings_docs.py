"""`magicapi-gateway --help` and the docs list the same settings.

--help is printed from the settings tables the code reads through
(include/gw/setting_table.h: a variable a component's table does not
declare cannot be read), so it is the list of every variable the gateway
reads. This test holds docs/configuration.md and docs/exporters.md to it:

- every setting name written in those two docs is listed by --help;
- every name --help lists is written in one of them, and listed once;
- each exporter --help shows has its section in docs/exporters.md, and the
  reverse.

What counts as a setting name in the docs (the rule, precisely):

1. Only inline code spans count (text between single backticks on one
   line), outside fenced ``` blocks: the docs write every setting as code,
   and fenced blocks are examples (shell, SQL, YAML) whose upper-case words
   are SQL keywords and the like.
2. In a span, every whole word (not joined to a letter, digit or `_`) of
   upper-case letters and digits with at least one underscore,
   `[A-Z][A-Z0-9]*(_[A-Z0-9]+)+`: `MAX_REQUEST_BODY_BYTES`, also inside
   `DD_DISTRIBUTIONS=false`, `{DD_URL}/api/v2/series`,
   `TELEMETRY_SPOOL_DIR/.lock` or an error line `DD_API_KEY: required ...`.
3. Settings without an underscore (`HOST`, `PORT`) count where the docs
   define settings: the backticked upper-case words of the first cell of a
   table whose header's first cell is `variable`.
4. `…_SUFFIX` (a U+2026 ellipsis, then `_`) abbreviates the name before it
   in the same table cell with as many trailing words replaced:
   `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`, `…_METRICS_ENDPOINT` names
   `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`.
5. Names starting `GW_` are the build's and the tests' own variables
   (`GW_UPDATE_GOLDEN`, `GW_GATEWAY_BIN`), never the gateway's: not counted.

So these are not settings, by shape: header names are hyphenated or lower
case (`DD-API-KEY`, `x-provider`), metric and attribute names are lower case
(`ai_gateway_requests_total`, `gen_ai.usage.input_tokens`), HTTP methods,
values and placeholders are one upper-case word outside a variable table's
first column (`POST`, `US`, `CLIENT`, `PATH.1`, `{index}-YYYY.MM.DD`).

A --help line that lists a setting is two spaces and the name at the start
of the line (src/common/setting_table.cc); an exporter's section starts with
the line `<name> exporter`.
"""
import os
import re
import subprocess
import unittest

from harness import GATEWAY_BIN, base_env

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(HERE, "..", "..", "docs")
DOC_FILES = ("configuration.md", "exporters.md")

NAME = re.compile(r"(?<![A-Za-z0-9_])[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+(?![A-Za-z0-9_])")
ONE_WORD = re.compile(r"^[A-Z][A-Z0-9]*$")
ABBREVIATION = re.compile(r"^\u2026((?:_[A-Z0-9]+)+)$")
SPAN = re.compile(r"`([^`\n]+)`")
HELP_SETTING = re.compile(r"^  ([A-Z][A-Z0-9_]*)(?:  |$)")
HELP_EXPORTER = re.compile(r"^([a-z][a-z0-9_]*) exporter$")


def without_fences(text):
    """`text` with every fenced code block's lines blanked (line count kept)."""
    out, fenced = [], False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            out.append("")
        else:
            out.append("" if fenced else line)
    return out


def cells(line):
    """The cells of a Markdown table row, or None for a line that is not one."""
    if not line.startswith("|"):
        return None
    return [c.strip() for c in line.strip().strip("|").split("|")]


def names_in_cell(text, first_cell_of_variable_table):
    """Setting names in one table cell or one prose line (rules 2-4)."""
    found, previous = [], None
    for span in SPAN.findall(text):
        abbreviated = ABBREVIATION.match(span)
        if abbreviated and previous:
            suffix = abbreviated.group(1)  # "_METRICS_ENDPOINT"
            words = previous.split("_")
            kept = words[:len(words) - (suffix.count("_"))]
            if kept:
                name = "_".join(kept) + suffix
                found.append(name)
                previous = name
            continue
        for name in NAME.findall(span):
            found.append(name)
            previous = name
        if first_cell_of_variable_table and ONE_WORD.match(span):
            found.append(span)
            previous = span
    return found


def doc_settings(path):
    """{name: first line number} of the settings written in one doc."""
    with open(path, encoding="utf-8") as f:
        lines = without_fences(f.read())
    found = {}
    table_is_variables = False
    for number, line in enumerate(lines, 1):
        row = cells(line)
        if row is None:
            table_is_variables = False
            texts = [(line, False)]
        elif all(re.fullmatch(r":?-+:?", c) for c in row):
            continue  # the header's separator row
        elif number == 1 or cells(lines[number - 2]) is None:
            table_is_variables = row[0] == "variable"  # a header row
            continue
        else:
            texts = [(cell, i == 0 and table_is_variables) for i, cell in enumerate(row)]
        for text, first_cell in texts:
            for name in names_in_cell(text, first_cell):
                if not name.startswith("GW_"):
                    found.setdefault(name, number)
    return found


def exporter_sections(path):
    """Exporter sections of docs/exporters.md: `## name` in lower case, one word."""
    with open(path, encoding="utf-8") as f:
        return {m.group(1) for m in re.finditer(r"^## ([a-z][a-z0-9_]*)\s*$", f.read(), re.M)}


class SettingsDocsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        r = subprocess.run([GATEWAY_BIN, "--help"], env=base_env(), capture_output=True, timeout=20)
        assert r.returncode == 0, r.stderr
        cls.help = r.stdout.decode()
        cls.help_names = [m.group(1) for m in map(HELP_SETTING.match, cls.help.splitlines()) if m]
        cls.help_exporters = {m.group(1) for m in map(HELP_EXPORTER.match, cls.help.splitlines()) if m}
        cls.docs = {name: doc_settings(os.path.join(DOCS, name)) for name in DOC_FILES}

    def test_the_rule_reads_the_docs_as_intended(self):
        # A few names of each kind the rule must find, and non-settings it must not.
        config, exporters = self.docs["configuration.md"], self.docs["exporters.md"]
        for name in ("HOST", "PORT", "MAX_REQUEST_BODY_BYTES", "MAX_INFLIGHT_BODY_BYTES", "RUST_LOG",
                     "AWS_SESSION_TOKEN", "TELEMETRY_SPOOL_DIR"):
            self.assertIn(name, config)
        for name in ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "DD_URL",
                     "DD_DISTRIBUTIONS", "ENABLE_ELASTICSEARCH", "POSTGRES_URL"):
            self.assertIn(name, exporters)
        for doc in self.docs.values():
            for not_a_setting in ("POST", "OPTIONS", "US", "EU", "CLIENT", "PATH", "GW_UPDATE_GOLDEN", "DD"):
                self.assertNotIn(not_a_setting, doc)

    def test_every_setting_in_the_docs_is_in_help(self):
        listed = set(self.help_names)
        missing = {f"{name} (docs/{doc}:{line})" for doc, names in self.docs.items()
                   for name, line in names.items() if name not in listed}
        self.assertEqual(missing, set(), "named in the docs but not listed by --help")

    def test_every_setting_in_help_is_in_the_docs(self):
        documented = set().union(*self.docs.values())
        self.assertGreater(len(self.help_names), 90)  # the parse found the whole list
        missing = [name for name in self.help_names if name not in documented]
        self.assertEqual(missing, [], "listed by --help but in neither docs/" + " nor docs/".join(DOC_FILES))

    def test_help_lists_each_setting_once(self):
        twice = sorted({name for name in self.help_names if self.help_names.count(name) > 1})
        self.assertEqual(twice, [])

    def test_every_exporter_has_its_section(self):
        self.assertIn("console", self.help_exporters)
        self.assertEqual(self.help_exporters, exporter_sections(os.path.join(DOCS, "exporters.md")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
