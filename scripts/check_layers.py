#!/usr/bin/env python3
"""Checks the include rules of the source layers (cmake/Layers.cmake).

Layers, lowest first: common < config < upstream < state < providers <
telemetry < routing < keys < dashboard < exporters < server < app. Rules, for production and test code under
src/ and the public API under include/gw:

1. A file of layer L includes headers of layer L and below only.
2. A provider folder (src/providers/<name>/) includes, of its layer, its
   own folder and providers/common/ only; code outside src/providers/
   includes only providers/provider_registry.h of that layer.
3. An exporter folder (src/exporters/<name>/) includes, of its layer, its
   own folder and exporters/common/ only; code outside src/exporters/
   includes nothing of that layer.
4. include/gw/ is self-contained: its headers include only gw/ headers.
5. A library of layer L links libraries of layer L and below only (a
   library's layer is what gw_layer() says in its CMakeLists.txt; the
   OBJECT library of an exporter or provider folder, made by
   gw_add_exporter() or gw_add_provider(), is of that layer).

The compiler enforces rule 1 for libraries (each sees only its layers);
this script states every rule in one place, with readable messages, and
runs in CTest as layer_check. Exit status 1 and one line per violation
when a rule is broken.

Usage: check_layers.py [SOURCE_DIR]
"""
import pathlib
import re
import sys

LAYERS = ["common", "config", "upstream", "state", "providers", "telemetry", "routing", "keys", "dashboard", "exporters", "server", "app"]
RANK = {name: i for i, name in enumerate(LAYERS)}
PLUGIN_LAYERS = {"providers": "provider_registry", "exporters": None}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)
SOURCE_SUFFIXES = {".h", ".hh", ".hpp", ".cc", ".cpp"}


def layer_of(relative_path):
    """('layer', 'folder or None') of a path relative to src/."""
    parts = relative_path.parts
    if not parts or parts[0] not in RANK:
        return None, None
    folder = parts[1] if parts[0] in PLUGIN_LAYERS and len(parts) > 2 else None
    return parts[0], folder


def check_source(root, path, errors):
    src = root / "src"
    rel = path.relative_to(src)
    layer, folder = layer_of(rel)
    if layer is None:
        return
    for lineno, target in includes(path):
        target_path = pathlib.PurePosixPath(target)
        to_layer, to_folder = layer_of(target_path)
        if to_layer is None:
            continue  # gw/, system, generated protobuf
        where = f"src/{rel}:{lineno}"
        if RANK[to_layer] > RANK[layer]:
            errors.append(f'{where}: layer {layer} includes "{target}" of the higher layer {to_layer}')
            continue
        if to_layer not in PLUGIN_LAYERS:
            continue
        if layer == to_layer:
            if folder is not None and to_folder not in (folder, "common", None):
                errors.append(f'{where}: {to_layer} folder {folder} includes "{target}" of the folder {to_folder}')
            elif folder is None and to_folder is not None and to_folder != "common":
                errors.append(f'{where}: src/{layer} includes "{target}", the inside of the folder {to_folder}')
        else:
            allowed = PLUGIN_LAYERS[to_layer]
            if to_folder is not None or target_path.stem != allowed:
                rule = (f"only {to_layer}/{allowed}.h may be included from outside" if allowed
                        else "nothing may be included from outside (plugins register themselves)")
                errors.append(f'{where}: layer {layer} includes "{target}"; of {to_layer}, {rule}')


def check_public(root, path, errors):
    rel = path.relative_to(root)
    for lineno, target in includes(path):
        if not target.startswith("gw/"):
            errors.append(f'{rel}:{lineno}: the public API includes "{target}"; include/gw may include only gw/ headers')


def includes(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    for match in INCLUDE.finditer(text):
        yield text.count("\n", 0, match.start()) + 1, match.group(1)


LAYER_CALL = re.compile(r'gw_layer\(\s*([\w-]+)\s+(\w+)\s*\)')
LINK_CALL = re.compile(r'target_link_libraries\(\s*([\w-]+)([^)]*)\)', re.DOTALL)
PLUGIN_CALL = re.compile(r'gw_add_(exporter|provider)\(\s*(\w+)([^)]*)\)', re.DOTALL)


def check_links(root, errors):
    layers, links = {}, []
    for cmake in sorted((root / "src").rglob("CMakeLists.txt")):
        text = cmake.read_text(encoding="utf-8")
        text = re.sub(r"#.*", "", text)
        rel = cmake.relative_to(root)
        for target, layer in LAYER_CALL.findall(text):
            layers[target] = layer
        for target, rest in LINK_CALL.findall(text):
            links.append((rel, target, rest.split()))
        for kind, name, rest in PLUGIN_CALL.findall(text):
            target = f"gw_{kind}_{name}"
            layers[target] = kind + "s"
            words = rest.split()
            if "LIBS" in words:
                links.append((rel, target, words[words.index("LIBS") + 1:]))
    for rel, target, words in links:
        if target not in layers:
            continue
        for lib in words:
            if lib in layers and RANK[layers[lib]] > RANK[layers[target]]:
                errors.append(f"{rel}: {target} (layer {layers[target]}) links {lib} of the higher layer {layers[lib]}")


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
    errors = []
    checked = 0
    for path in sorted((root / "src").rglob("*")):
        if path.suffix in SOURCE_SUFFIXES and path.is_file():
            check_source(root, path, errors)
            checked += 1
    for path in sorted((root / "include" / "gw").rglob("*.h")):
        check_public(root, path, errors)
        checked += 1
    check_links(root, errors)
    for e in errors:
        print(e)
    print(f"check_layers: {checked} files, {len(errors)} violation(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
