#!/usr/bin/env python3
"""check_layers.py finds each kind of violation in a small tree, and none in a clean one."""
import pathlib
import subprocess
import sys
import tempfile
import unittest

SCRIPT = pathlib.Path(__file__).resolve().parent / "check_layers.py"


def run(files):
    with tempfile.TemporaryDirectory() as root:
        for name, text in files.items():
            path = pathlib.Path(root, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        r = subprocess.run([sys.executable, str(SCRIPT), root], capture_output=True, text=True)
        return r.returncode, r.stdout


CLEAN = {
    "src/common/a.h": '#include "gw/error.h"\n',
    "src/telemetry/t.cc": '#include "common/a.h"\n#include "providers/provider_registry.h"\n',
    "src/providers/provider_registry.h": '#include "gw/provider.h"\n',
    "src/providers/x/x.cc": '#include "providers/x/x.h"\n#include "providers/common/f.h"\n',
    "src/exporters/e/e.cc": '#include "exporters/e/e.h"\n#include "exporters/common/http.h"\n#include "telemetry/t.h"\n',
    "src/server/s.cc": '#include "telemetry/t.h"\n#include <vector>\n',
    "include/gw/api.h": '#include "gw/error.h"\n#include <string>\n',
    "src/common/CMakeLists.txt": "add_library(gw_common a.cc)\ngw_layer(gw_common common)\n",
    "src/telemetry/CMakeLists.txt": "add_library(gw_telemetry t.cc)\ngw_layer(gw_telemetry telemetry)\n"
                                    "target_link_libraries(gw_telemetry PUBLIC gw_common)\n",
}


class CheckLayersTest(unittest.TestCase):
    def test_a_clean_tree_passes(self):
        code, out = run(CLEAN)
        self.assertEqual(code, 0, out)
        self.assertIn("0 violation(s)", out)

    def assertViolation(self, extra, expected):
        code, out = run({**CLEAN, **extra})
        self.assertEqual(code, 1, out)
        self.assertIn(expected, out)

    def test_an_include_of_a_higher_layer(self):
        self.assertViolation({"src/common/b.cc": '#include "server/s.h"\n'},
                             'src/common/b.cc:1: layer common includes "server/s.h" of the higher layer server')

    def test_the_state_layer_sits_between_upstream_and_providers(self):
        code, out = run({**CLEAN, "src/state/r.cc": '#include "upstream/u.h"\n',
                         "src/providers/x/y.cc": '#include "state/r.h"\n'})
        self.assertEqual(code, 0, out)
        self.assertViolation({"src/upstream/u.cc": '#include "state/r.h"\n'},
                             'src/upstream/u.cc:1: layer upstream includes "state/r.h" of the higher layer state')

    def test_a_provider_folder_including_another(self):
        self.assertViolation({"src/providers/y/y.cc": '#include "providers/x/x.h"\n'},
                             'providers folder y includes "providers/x/x.h" of the folder x')

    def test_provider_internals_from_outside(self):
        self.assertViolation({"src/server/t.cc": '#include "providers/common/f.h"\n'},
                             'only providers/provider_registry.h may be included from outside')

    def test_an_exporter_from_outside(self):
        self.assertViolation({"src/server/t.cc": '#include "exporters/e/e.h"\n'},
                             'of exporters, nothing may be included from outside')

    def test_the_public_api_including_src(self):
        self.assertViolation({"include/gw/bad.h": '#include "common/a.h"\n'},
                             'include/gw/bad.h:1: the public API includes "common/a.h"')

    def test_a_lower_library_linking_a_higher_one(self):
        self.assertViolation({"src/common/CMakeLists.txt": "add_library(gw_common a.cc)\ngw_layer(gw_common common)\n"
                                                           "target_link_libraries(gw_common PUBLIC gw_telemetry)\n"},
                             "gw_common (layer common) links gw_telemetry of the higher layer telemetry")


if __name__ == "__main__":
    unittest.main()
