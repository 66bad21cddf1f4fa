#!/usr/bin/env bash
# Idempotent setup from a fresh clone; run it, or `source` it from another script.
#
#   - creates .venv in the project root with python3 (>= 3.11) if it is absent or broken
#   - upgrades the venv's pip to >= 25.1 (for dependency groups), then installs the package
#     editable with every extra of pyproject.toml and the dependency groups "test" (pytest,
#     ruff, mypy, ...) and "examples" (what the example service needs), again only when pyproject.toml changed since the last install (a
#     stamp file in .venv remembers its hash)
#   - makes sure redis-server is on the PATH: installs Debian's package with apt-get when
#     running as root (or with passwordless sudo); otherwise says what to install and fails
#   - where the dashboard's browser tests will run (CI, or AJQ_BROWSER_TESTS=1), makes sure
#     Debian's chromium and chromium-driver are installed, the same way (elsewhere those
#     tests run when they are installed and are skipped, saying why, when not)
#
# Progress goes to stderr, one short line a step; pip's and apt's output goes to a log
# file that is shown only when they fail. Installing Debian's redis-server may start a
# system service on port 6379; nothing here uses it: the tests and the example start
# their own redis-server on a free port.

_ajq_setup() {
    local root venv stamp log py candidate want_stamp extras sudo="" apt_updated=""
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
    venv="$root/.venv"
    stamp="$venv/.ajq-setup-stamp"
    log="${TMPDIR:-/tmp}/ajq-setup.$$.log"

    _ajq_say() { printf 'setup: %s\n' "$*" >&2; }
    _ajq_fail() {
        printf 'setup: error: %s\n' "$*" >&2
        return 1
    }
    # Run a command with its output to $log; on failure show the log's tail.
    _ajq_quiet() {
        if "$@" >"$log" 2>&1; then
            rm -f "$log"
            return 0
        fi
        printf 'setup: command failed: %s\n' "$*" >&2
        tail -n 25 "$log" | sed 's/^/  | /' >&2
        rm -f "$log"
        return 1
    }
    _ajq_py_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

    # Root, or passwordless sudo, with apt-get: then we may install Debian packages.
    _ajq_can_apt() {
        command -v apt-get >/dev/null 2>&1 || return 1
        if [[ "$(id -u)" == 0 ]]; then
            sudo=""
        elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo"
        else
            return 1
        fi
    }
    # Never fails by itself: a package's service may fail to start in a container without
    # systemd, which can make apt-get fail after the files are in place; callers check.
    _ajq_apt_install() {
        _ajq_say "installing $* with apt-get${sudo:+ (via sudo)}"
        if [[ -z "$apt_updated" ]]; then
            apt_updated=1
            _ajq_quiet ${sudo:+"$sudo"} apt-get update -qq ||
                _ajq_say "apt-get update reported an error; trying the install anyway"
        fi
        _ajq_quiet ${sudo:+"$sudo"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" ||
            _ajq_say "apt-get install $* reported an error; checking what got installed"
    }

    # -- the virtualenv ------------------------------------------------------------------
    # A venv is usable if its python runs, is >= 3.11, has pip, and its scripts point at
    # this directory (a venv copied or moved from elsewhere has stale script paths).
    if [[ -e "$venv" ]] && ! {
        "$venv/bin/python" -c 'import sys, pip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null &&
            head -n 3 "$venv/bin/pip" 2>/dev/null | grep -qF "$venv/bin/python"
    }; then
        _ajq_say "$venv is broken or was moved here; recreating it"
        rm -rf "$venv" || return 1
    fi
    if [[ ! -e "$venv" ]]; then
        py=""
        for candidate in "${PYTHON:-python3}" python3 python3.13 python3.12 python3.11; do
            if command -v "$candidate" >/dev/null 2>&1 && _ajq_py_ok "$candidate"; then
                py="$(command -v "$candidate")"
                break
            fi
        done
        if [[ -z "$py" ]]; then
            _ajq_fail "python3 >= 3.11 not found: install it (Debian 12: apt-get install python3 python3-venv)"
            return 1
        fi
        _ajq_say "creating .venv with $py ($("$py" -c 'import platform; print(platform.python_version())'))"
        if ! "$py" -m venv "$venv" >/dev/null 2>&1 || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
            # Debian ships venv's ensurepip in a separate package.
            rm -rf "$venv"
            local venv_pkg
            venv_pkg="python$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"
            if _ajq_can_apt; then
                _ajq_apt_install "$venv_pkg"
            fi
            if ! "$py" -m venv "$venv" >/dev/null 2>&1 || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
                rm -rf "$venv"
                _ajq_fail "$py -m venv failed: install the venv module (Debian/Ubuntu: apt-get install $venv_pkg)"
                return 1
            fi
        fi
    fi

    # -- the package and its test tools ----------------------------------------------------
    want_stamp="$("$venv/bin/python" -c 'import hashlib, sys
print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$root/pyproject.toml")" ||
        return 1
    if [[ "$(cat "$stamp" 2>/dev/null)" != "$want_stamp" ]] ||
        [[ ! -x "$venv/bin/pytest" || ! -x "$venv/bin/ruff" || ! -x "$venv/bin/mypy" ]]; then
        rm -f "$stamp"
        # pip installs dependency groups (PEP 735) from 25.1 on
        if ! "$venv/bin/python" -c 'import sys, pip
sys.exit(tuple(map(int, pip.__version__.split(".")[:2])) < (25, 1))' 2>/dev/null; then
            _ajq_say "upgrading pip in .venv (dependency groups need pip >= 25.1)"
            _ajq_quiet "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
                --upgrade 'pip>=25.1' || {
                _ajq_fail "pip upgrade failed (see above)"
                return 1
            }
        fi
        # every extra the package declares: the tests cover them all
        extras="$("$venv/bin/python" -c 'import sys, tomllib
print(",".join(tomllib.load(open(sys.argv[1], "rb"))["project"].get("optional-dependencies", {})))' \
            "$root/pyproject.toml")" || return 1
        _ajq_say "pip install -e '.[$extras]' --group test --group examples into .venv"
        _ajq_quiet "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            -e "${root}[$extras]" --group "$root/pyproject.toml:test" \
            --group "$root/pyproject.toml:examples" || {
            _ajq_fail "pip install failed (see above)"
            return 1
        }
        printf '%s\n' "$want_stamp" >"$stamp"
    fi

    # -- redis-server ------------------------------------------------------------------------
    if ! command -v redis-server >/dev/null 2>&1; then
        if _ajq_can_apt; then
            _ajq_apt_install redis-server
            hash -r
            if ! command -v redis-server >/dev/null 2>&1; then
                _ajq_fail "apt-get install redis-server did not put redis-server on the PATH ($PATH)"
                return 1
            fi
        else
            _ajq_fail "redis-server is not on the PATH: install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)"
            return 1
        fi
    fi

    # -- Chromium, for the dashboard's browser tests -------------------------------------------
    if [[ -n "${CI:-}" || "${AJQ_BROWSER_TESTS:-}" == 1 ]] &&
        ! [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
        if _ajq_can_apt; then
            _ajq_apt_install chromium chromium-driver
        fi
        if ! [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
            _ajq_fail "the browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
            return 1
        fi
    fi
    _ajq_say "ready: $("$venv/bin/python" --version), $(redis-server --version | cut -d' ' -f1-3)"
}

# Called in a condition, so errexit is off inside whether or not the caller set it: every
# step checks its own failure. Sourced, a failure returns 1 to the caller (an interactive
# shell survives it); run, it exits 1.
if _ajq_setup; then _ajq_status=0; else _ajq_status=1; fi
unset -f _ajq_setup _ajq_say _ajq_fail _ajq_quiet _ajq_py_ok _ajq_can_apt _ajq_apt_install
if [[ "$_ajq_status" != 0 ]]; then
    unset _ajq_status
    # shellcheck disable=SC2317  # reached when run, not sourced
    return 1 2>/dev/null || exit 1
fi
unset _ajq_status
