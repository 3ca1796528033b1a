"""densenet_zoo_util imports nothing of the project and nothing outside the standard library.

Every layer imports it (``converters.t7`` included), so one import of the project from here would
make an import point up or draw a circle.
"""

import subprocess
import sys


def test_util_modules_import_only_the_standard_library():
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import densenet_zoo_util.atomic, densenet_zoo_util.hashing, densenet_zoo_util.lazy\n"
        "new = sorted(name.split('.')[0] for name in set(sys.modules) - before)\n"
        "print(sorted(set(new) - set(sys.stdlib_module_names) - {'densenet_zoo_util'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
