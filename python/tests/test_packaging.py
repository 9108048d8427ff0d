"""``pip install --no-build-isolation ./python`` works without a package index."""

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import support

def _missing() -> list:
    missing = [name for name in ("pip", "setuptools") if importlib.util.find_spec(name) is None]
    if "setuptools" not in missing:
        # Read from its metadata: importing setuptools here would patch distutils.
        found = importlib.metadata.version("setuptools")
        version = tuple(int(part) for part in found.split(".")[:2] if part.isdigit())
        if version < (61, 0):
            missing.append("setuptools 61 or newer (found %s)" % found)
        elif version < (70, 1) and importlib.util.find_spec("wheel") is None:
            missing.append("wheel (setuptools %s needs it)" % found)
    return missing


MISSING = _missing()
if MISSING:
    print(
        "test_packaging: skipping: %s not installed for %s (apt-get install python3-pip python3-setuptools)"
        % (" and ".join(MISSING), sys.executable),
        file=sys.stderr,
    )


@unittest.skipIf(bool(MISSING), "needs pip and setuptools")
class PackagingTest(unittest.TestCase):
    """The pyproject.toml builds with the setuptools Debian ships."""

    def test_pip_installs_the_package_without_an_index(self) -> None:
        with tempfile.TemporaryDirectory() as directory:
            source = os.path.join(directory, "src")
            # A copy, so that the build leaves nothing in the work tree.
            shutil.copytree(support.PYTHON_DIR, source, ignore=shutil.ignore_patterns("tests", "__pycache__", "build", "*.egg-info"))
            target = os.path.join(directory, "target")
            done = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-deps", "--target", target, source],
                capture_output=True,
                text=True,
                timeout=300,
                env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"),
            )
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
            self.assertTrue(os.path.exists(os.path.join(target, "computecloud", "py.typed")))
            check = subprocess.run(
                [sys.executable, "-c", "import computecloud, sys; print(computecloud.__file__); print(computecloud.ComputeCloud.__name__)"],
                capture_output=True,
                text=True,
                cwd=directory,
                env=dict(os.environ, PYTHONPATH=target),
                timeout=60,
            )
            self.assertEqual(check.returncode, 0, check.stderr)
            self.assertTrue(check.stdout.startswith(os.path.join(target, "computecloud")), check.stdout)
            self.assertTrue(check.stdout.endswith("ComputeCloud\n"))
            usage = subprocess.run(
                [sys.executable, "-m", "computecloud", "--help"],
                capture_output=True,
                text=True,
                cwd=directory,
                env=dict(os.environ, PYTHONPATH=target),
                timeout=60,
            )
            self.assertEqual(usage.returncode, 2)
            self.assertIn("usage: client.py [<port>|<host> <port>]", usage.stderr)


if __name__ == "__main__":
    unittest.main()
