#!/usr/bin/env bash
# Sets up everything the project needs; idempotent, and fast when already done.
#
#   tools/setup.sh          (what `make setup` runs)
#   WITH_GP=1 tools/setup.sh
#                           (what `make setup-gp` runs: also the optional extra
#                           requirements-gp.txt, PyTorch for the bayesian GP sampler)
#
# 1. System tools, with apt-get, only when missing: Bazel (Debian's
#    bazel-bootstrap, 4.2.3) when `bazel` is not on PATH, Graphviz when `dot`
#    is not, and python3.11 / its venv module when those are missing.
#    `apt-get update` runs only when a package has no install candidate (empty
#    package lists, as on a fresh container); sudo is used only when not root.
# 2. The virtual environment .venv (Python 3.11) from requirements.txt. A stamp,
#    .venv/.requirements.sha256, holds the hash of the requirements.txt last
#    installed: pip runs again only when that file changes.
# 3. With WITH_GP=1, the optional extra requirements-gp.txt into the same
#    environment, with its own stamp (.venv/.requirements-gp.sha256).
#
# Environment: PYTHON (default python3.11), VENV (default .venv),
# SKIP_APT=1 to never call apt-get (then missing tools are only reported).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3.11}"
VENV="${VENV:-.venv}"
STAMP="$VENV/.requirements.sha256"

log() { echo "setup: $*" >&2; }

as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    log "need root to run '$*' and sudo is not installed"
    return 1
  fi
}

# apt_install PACKAGE...: installs Debian packages, updating the lists only when needed.
apt_install() {
  if [[ "${SKIP_APT:-0}" == 1 ]]; then
    log "SKIP_APT=1: not installing $*; install them yourself"
    return 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    log "apt-get not found: install $* with your system's package manager"
    return 1
  fi
  local pkg need_update=0
  for pkg in "$@"; do
    # (no `| grep -q`: with pipefail, apt-cache's SIGPIPE would read as "missing")
    if [[ "$(apt-cache policy "$pkg" 2>/dev/null)" != *"Candidate: "[0-9]* ]]; then
      need_update=1
    fi
  done
  if [[ "$need_update" == 1 ]]; then
    log "apt-get update (no install candidate for some of: $*)"
    as_root apt-get update -qq
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- 1. system tools ---------------------------------------------------------
missing=()
command -v bazel >/dev/null 2>&1 || missing+=(bazel-bootstrap)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  missing+=(python3.11 python3.11-venv)
elif [[ ! -x "$VENV/bin/python" ]] && ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3.11-venv)  # Debian splits venv/ensurepip out of python3.11
fi
if (( ${#missing[@]} )); then
  apt_install "${missing[@]}"
fi

# --- 3. the optional extra (after the environment is set up) -----------------
GP_STAMP="$VENV/.requirements-gp.sha256"

# gp_done: true when the extra is not asked for, or installed from this requirements-gp.txt.
gp_done() {
  [[ "${WITH_GP:-0}" != 1 ]] ||
    [[ -f "$GP_STAMP" && "$(cat "$GP_STAMP")" == "$(sha256sum requirements-gp.txt | cut -d' ' -f1)" ]]
}

# install_gp: the extra, when asked for and not yet installed (called under the lock).
install_gp() {
  gp_done && return 0
  log "installing the optional extra requirements-gp.txt (PyTorch) into $VENV"
  local start=$SECONDS gp_want
  gp_want="$(sha256sum requirements-gp.txt | cut -d' ' -f1)"
  rm -f "$GP_STAMP"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input \
    --progress-bar off -q -r requirements-gp.txt
  echo "$gp_want" > "$GP_STAMP"
  log "requirements-gp.txt installed in $((SECONDS - start)) s"
}

# --- 2. the virtual environment ----------------------------------------------
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] &&
   "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null &&
   gp_done; then
  exit 0  # the fast path: nothing to do
fi

mkdir -p "$VENV"
exec 9>"$VENV/.setup.lock"
flock 9  # two `make` runs at once in one tree: the second waits, then finds the stamp
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$VENV/bin/python" ]]; then
  install_gp
  exit 0
fi

if [[ -x "$VENV/bin/python" ]] &&
   ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  log "$VENV is not a working Python 3.11 environment: recreating it"
  find "$VENV" -mindepth 1 -maxdepth 1 ! -name .setup.lock -exec rm -rf {} +
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi

log "installing requirements.txt into $VENV (a few minutes on a new machine)"
start=$SECONDS
rm -f "$STAMP"
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input \
  --progress-bar off -q -r requirements.txt
echo "$want" > "$STAMP"
log "requirements installed in $((SECONDS - start)) s"
install_gp
