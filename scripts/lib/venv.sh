# make_venv NAME VENV_DIR CHECK_COMMAND PIP_REQUIREMENT...
#
# Sourced by the scripts that make a virtualenv of PyPI test oracles and peers (nothing in the
# build or in Airlock itself needs one). Creates VENV_DIR with the requirements installed, then
# runs CHECK_COMMAND (a shell command; $VENV is the venv) to prove they work. Idempotent: when
# VENV_DIR already holds exactly these requirements (a stamp file records them) it prints
# nothing and returns 0. Uses the python3 first on PATH (pyenv), else Debian's, whichever has a
# working venv module.
make_venv() {
  local name="$1" venv="$2" check="$3"
  shift 3
  local stamp="$venv/.airlock-venv"
  local want="$*"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then
    return 0
  fi
  local py="" cand probe
  for cand in "$(command -v python3 || true)" /usr/bin/python3; do
    [[ -n "$cand" && -x "$cand" ]] || continue
    probe="$(mktemp -d)"
    if "$cand" -m venv "$probe/v" >/dev/null 2>&1 && [[ -x "$probe/v/bin/pip" ]]; then
      py="$cand"
    fi
    rm -rf "$probe"
    [[ -n "$py" ]] && break
  done
  if [[ -z "$py" ]]; then
    echo "$name: no python3 with a working venv module (apt-get install python3-venv)" >&2
    return 1
  fi
  echo "$name: installing $want into $venv (with $py)"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
  if ! VENV="$venv" bash -c "$check" >/dev/null 2>&1; then
    echo "$name: installed, but '$check' fails" >&2
    return 1
  fi
  echo "$want" >"$stamp"
  echo "$name: ready"
}
