"""pyproject.toml makes an installable distribution with a console script per binary.

The wheel is built from a copy of the sources (nothing is written into the
checkout), installed into a fresh virtual environment whose dependencies come
from the environment running the tests (a ``.pth`` file: no download), and one
console script runs from a directory outside the checkout, so it can only use
the installed packages.
"""

import importlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("nasnet", "search_cifar", "transfer", "detection", "model_zoo")


def _pyproject() -> dict:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def _pins(name: str) -> dict[str, str]:
    """``package -> version`` of the ``==`` pins of a requirements file."""
    pins = {}
    with open(os.path.join(ROOT, name)) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if "==" in line:
                package, version = line.split("==")
                pins[package.split("[")[0].strip().lower()] = version.strip()
    return pins


def test_pytorch_is_only_in_the_optional_extra():
    """Issue 14: the default install leaves PyTorch out (the GP sampler's extra has it)."""
    assert "torch" not in _pins("requirements.txt")
    assert set(_pins("requirements-gp.txt")) == {"torch"}
    extras = _pyproject()["project"]["optional-dependencies"]
    assert not any("torch" in d for d in _pyproject()["project"]["dependencies"])
    assert [d for d in extras["bayesian-gp"] if d.startswith("torch")]


def test_every_binary_has_a_console_script_and_every_script_a_run_function():
    scripts = _pyproject()["project"]["scripts"]
    binaries = set()
    for target in scripts.values():
        module, _, function = target.partition(":")
        binaries.add(module)
        source = os.path.join(ROOT, *module.split(".")) + ".py"
        with open(source, encoding="utf-8") as f:
            assert f"\ndef {function}() -> None:" in f.read(), target
    declared = set()
    config = open(os.path.join(ROOT, ".importlinter"), encoding="utf-8").read()
    section = config.split("[importlinter:contract:binaries-on-top]")[1].split("[")[0]
    for line in section.split("protected_modules =")[1].split("allowed_importers")[0].split():
        if not line.startswith("tools."):
            declared.add(line)
    assert binaries == declared, "console scripts and the binaries of .importlinter differ"


def test_wheel_installs_into_a_fresh_environment_and_a_console_script_runs(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), src / name)
    for package in PACKAGES:
        shutil.copytree(os.path.join(ROOT, package), src / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(wheels), str(src)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("nasnet_pipeline-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=300)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True,
                             check=True).stdout.strip()
    # Dependencies from the test's environment, after the venv's own site-packages.
    with open(os.path.join(purelib, "deps.pth"), "w", encoding="utf-8") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index",
                              "-q", str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",
                                                            "BUILD_WORKING_DIRECTORY")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    where = subprocess.run([str(python), "-c", "import nasnet, search_cifar.strategies; "
                            "print(nasnet.__file__)"], cwd=outside, env=env,
                           capture_output=True, text=True, timeout=300)
    assert where.returncode == 0, where.stderr[-3000:]
    assert where.stdout.strip().startswith(purelib), where.stdout
    zoo = subprocess.run([str(venv / "bin" / "nasnet-zoo"), "list", "--zoo_dir=zoo"],
                         cwd=outside, env=env, capture_output=True, text=True, timeout=600)
    assert zoo.returncode == 0, zoo.stderr[-3000:]
    assert "nasnet_a" in zoo.stdout and "published architecture" in zoo.stdout
    usage = subprocess.run([str(venv / "bin" / "nasnet-search"), "--budget=abc"],
                           cwd=outside, env=env, capture_output=True, text=True, timeout=600)
    assert usage.returncode == 2 and "search: error:" in usage.stderr, usage.stderr[-2000:]
