"""Plugin trees shaped like Dioptra 0.x's seeds, for the Prefect 1 and Prefect 3 flow tests.

Laid out as Dioptra ships them: the top folder and its subfolders are namespace packages (no
``__init__.py``), plugins import ``pyplugs`` (the one line a migration changes), one plugin
function is wrapped by a decorator from another module (Dioptra's ``@require_package``), and
``init_rng`` is marked ``@pyplugs.task_nout(2)`` so flows unpack ``seed, rng = call_task(...)``.
The flows themselves are in the tests: ``with Flow(...)`` for Prefect 1, ``@flow`` for 3.
"""

from __future__ import annotations

import random
import secrets
import textwrap
from dataclasses import dataclass
from pathlib import Path

# A stand-in for dioptra.sdk.utilities.decorators: a wrapper defined in a module of its own.
SDK = """
import importlib
from functools import wraps


def require_package(name):
    def decorator(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            importlib.import_module(name)
            return func(*args, **kwargs)

        return wrapper

    return decorator
"""

IMAGES = '''
"""Image plugins: the user guide's "Image Resizer" example."""
import json
from pathlib import Path

from dioptra_plugins import pyplugs


@pyplugs.register
def resize(data_dir, image_size):
    """Resize the images of data_dir; writes what it did next to them."""
    out = Path(data_dir) / "resized.json"
    out.write_text(json.dumps({"size": list(image_size)}))
    return str(out)


@pyplugs.register
def rotate(data_dir, image_size):
    """Rotate what resize wrote: fails if it runs before resize."""
    resized = json.loads((Path(data_dir) / "resized.json").read_text())
    return {"rotated": resized["size"][::-1], "asked": list(image_size)}
'''

RNG = '''
"""A task plugin module for managing random number generators."""
from __future__ import annotations

import random

from dioptra_plugins import pyplugs


@pyplugs.register
@pyplugs.task_nout(2)
def init_rng(seed: int = -1) -> tuple[int, random.Random]:
    """Constructs a new random number generator; returns the seed and the generator."""
    if seed < 0:
        seed = random.SystemRandom().randrange(2**31)
    return int(seed), random.Random(seed)
'''

SAMPLE = """
from dioptra_plugins import pyplugs


@pyplugs.register
def draw_random_integer(rng, low: int = 0, high: int = 2**31 - 1) -> int:
    return int(rng.randint(low, high))
"""

# Like Dioptra's registry/mlflow.py: the wrapped function is registered last, but its code
# object (the wrapper's) sits on an earlier line, in another file.
FGM = '''
"""Fast gradient method, in miniature."""
from dioptra_plugins import pyplugs
from {sdk} import require_package


@pyplugs.register
def create_adversarial_examples(values, eps, seed):
    """Shift every value by eps (the seed says which way)."""
    sign = 1 if seed % 2 == 0 else -1
    return [v + sign * eps for v in values]


@pyplugs.register
def distance(clean, adversarial):
    return max(abs(a - b) for a, b in zip(clean, adversarial))


@pyplugs.register
@require_package("json")
def needs_json(values):
    return len(values)
'''


@dataclass(frozen=True)
class SeedTree:
    """Names of one written tree: the namespace package and the helper module."""

    namespace: str
    sdk: str

    @property
    def top_level_names(self) -> list[str]:
        return [self.namespace, self.sdk]


def write_seed_tree(root: Path) -> SeedTree:
    """Write a Dioptra-shaped plugin tree under ``root`` (which must be on ``sys.path``)."""
    suffix = secrets.token_hex(4)
    tree = SeedTree(namespace=f"seeds_{suffix}", sdk=f"seed_sdk_{suffix}")
    files = {
        f"{tree.sdk}.py": SDK,
        f"{tree.namespace}/data/images.py": IMAGES,
        f"{tree.namespace}/random/rng.py": RNG,
        f"{tree.namespace}/random/sample.py": SAMPLE,
        f"{tree.namespace}/attacks/fgm.py": FGM.replace("{sdk}", tree.sdk),
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tree


def expected_draws(seed: int, count: int) -> list[int]:
    """What ``count`` draw_random_integer calls on ``init_rng(seed)``'s generator return."""
    rng = random.Random(seed)
    return [rng.randint(0, 2**31 - 1) for _ in range(count)]
