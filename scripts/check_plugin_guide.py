#!/usr/bin/env python3
"""Checks the worked example of the plugin guide (docs/telemetry-plugins.md).

The guide marks each file of its example with an HTML comment naming the
file's path under src/, followed by the file's code in a ```cpp block:

    <!-- plugin_guide_example: exporters/console/console_exporter.h -->
    ```cpp
    ...
    ```

For each marked block this script checks that

1. it is the file's code: every line of the block stands in src/<path>, in
   the same order (so a block may leave lines out, never add or change one);
2. written alone into BUILD_DIR/<path>, the example compiles with no
   include path but the plugin API, include/ (and the system's, e.g.
   Boost's): every .cc block is compiled with -fsyntax-only.

So the example cannot name a header the plugin API does not have, nor drift
from the code it shows. Runs in CTest as plugin_guide_example; exit status 1
with a message saying what is wrong when a check fails.

Usage: check_plugin_guide.py SOURCE_DIR BUILD_DIR --cxx COMPILER [--system-include DIR]...
"""
import argparse
import pathlib
import re
import subprocess
import sys

GUIDE = "docs/telemetry-plugins.md"
MARKED_BLOCK = re.compile(
    r"<!--\s*plugin_guide_example:\s*(?P<path>\S+)\s*-->\s*\n```cpp\n(?P<code>.*?)^```", re.DOTALL | re.MULTILINE)


def blocks(guide_text):
    """[(path under src/, code)] of the guide's marked blocks, in order."""
    return [(m.group("path"), m.group("code")) for m in MARKED_BLOCK.finditer(guide_text)]


def first_line_not_in(code, source):
    """The first line of `code` that does not stand in `source` after the
    lines before it, or None when every line does (blank lines aside)."""
    source_lines = source.splitlines()
    position = 0
    for line in code.splitlines():
        if not line.strip():
            continue
        try:
            position = source_lines.index(line, position) + 1
        except ValueError:
            return line
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source_dir", type=pathlib.Path)
    parser.add_argument("build_dir", type=pathlib.Path)
    parser.add_argument("--cxx", required=True, help="the C++ compiler")
    parser.add_argument("--system-include", action="append", default=[], help="a system include directory")
    args = parser.parse_args()

    guide = args.source_dir / GUIDE
    found = blocks(guide.read_text(encoding="utf-8"))
    if not any(path.endswith(".cc") for path, _ in found):
        print(f"{GUIDE}: no marked .cc block of the worked example (<!-- plugin_guide_example: PATH -->)")
        return 1

    errors = []
    sources = []
    for path, code in found:
        actual = args.source_dir / "src" / path
        if not actual.is_file():
            errors.append(f"{GUIDE}: the example's {path} is not a file under src/")
            continue
        missing = first_line_not_in(code, actual.read_text(encoding="utf-8"))
        if missing is not None:
            errors.append(f"{GUIDE}: the example's {path} differs from src/{path}; first line not in it: {missing!r}")
        out = args.build_dir / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(code, encoding="utf-8")
        if path.endswith(".cc"):
            sources.append(out)

    for source in sources:
        command = [args.cxx, "-std=c++20", "-fsyntax-only", "-I", str(args.source_dir / "include"),
                   "-I", str(args.build_dir)]
        for directory in args.system_include:
            command += ["-isystem", directory]
        command.append(str(source))
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            errors.append(f"{GUIDE}: the example's {source.relative_to(args.build_dir)} does not compile against "
                          f"include/ alone:\n  {' '.join(command)}\n{result.stdout}{result.stderr}")

    for error in errors:
        print(error)
    print(f"check_plugin_guide: {len(found)} block(s), {len(sources)} compiled, {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
