"""A serving process loads its views and freezes start-up's objects before the first request."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi"])
def test_the_servers_application_has_its_views_loaded_and_startup_frozen(module):
    code = (f"import gc, sys, {module}; "
            "print(gc.get_freeze_count(), 'flows.api.views' in sys.modules, 'messaging.api.views' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "DATABASE_URL": "sqlite://:memory:"}, check=True).stdout.split()
    frozen, *loaded = out
    # Django, DRF and every app: tens of thousands of objects; none of them swept again.
    assert int(frozen) > 50_000 and loaded == ["True", "True"]
