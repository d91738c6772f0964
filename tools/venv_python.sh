#!/usr/bin/env bash
# The Python interpreter of every Bazel py_binary / py_test: the project's .venv.
#
# //tools:venv_python_runtime names this script, so no absolute path of any
# machine is committed. Bazel reaches it through symlinks (runfiles -> execroot
# -> source tree); resolving them gives the source tree, and .venv sits at its
# root. `bazel run` also sets BUILD_WORKSPACE_DIRECTORY, used as a fallback.
set -euo pipefail
self="$(readlink -f "${BASH_SOURCE[0]}")"
root="$(dirname "$(dirname "$self")")"
python="$root/.venv/bin/python3"
if [[ ! -x "$python" && -n "${BUILD_WORKSPACE_DIRECTORY:-}" ]]; then
  python="$BUILD_WORKSPACE_DIRECTORY/.venv/bin/python3"
fi
if [[ ! -x "$python" ]]; then
  echo "venv_python.sh: no virtual environment at $root/.venv; run 'make setup' first" >&2
  exit 127
fi
exec "$python" "$@"
