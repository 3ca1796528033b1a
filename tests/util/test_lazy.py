"""densenet_zoo_util.lazy: package names imported on first use, in a fresh interpreter each time."""

import subprocess
import sys


def run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_a_name_imports_its_module_only_when_first_used():
    out = run(
        "import sys, converters; "
        "before = 'converters.densenet' in sys.modules; "
        "convert = converters.convert; "
        "print(before, 'converters.densenet' in sys.modules, convert is sys.modules['converters.densenet'].convert, "
        "'convert' in vars(converters))"
    )
    assert out == "False True True True"


def test_unknown_names_raise_attribute_error_and_dir_lists_the_exports():
    out = run(
        "import zoo\n"
        "try:\n    zoo.no_such_name\nexcept AttributeError as error:\n    print(error)\n"
        "print(all(name in dir(zoo) for name in ('DenseNet', 'create_model', 'load')))"
    )
    assert out.splitlines() == ["module 'zoo' has no attribute 'no_such_name'", "True"]


def test_a_submodule_never_shadows_the_export_of_its_name():
    """zoo.evaluation.evaluate, zoo.data.image_scale and zoo.registry.fetch are modules and exported functions."""
    out = run(
        "import types, zoo.evaluation.evaluate, zoo.data.image_scale, zoo.registry.fetch\n"
        "from zoo.evaluation import evaluate\n"
        "from zoo.data import image_scale\n"
        "from zoo.registry import fetch\n"
        "import zoo.evaluation.evaluate as module\n"
        "print([callable(name) and not isinstance(name, types.ModuleType) for name in (evaluate, image_scale, fetch)],"
        " module is evaluate, zoo.evaluation.evaluate is evaluate, zoo.evaluation.EvaluationOptions.__module__)"
    )
    assert out == "[True, True, True] True True zoo.evaluation.evaluate"
