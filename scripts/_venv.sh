# Sourced by demo.sh and test.sh: create .venv when missing and install the project into it.
# Usage: ensure_venv [EXTRA]   (EXTRA is a pyproject extra such as "dev")
ensure_venv() {
    local extra="${1:-}"
    local target="."
    [ -n "$extra" ] && target=".[$extra]"
    if [ ! -x .venv/bin/python ]; then
        echo "Creating .venv with $(python3 --version)"
        python3 -m venv .venv
    fi
    # Reinstall only when pyproject.toml or the requested extra changed since the last install.
    local stamp=".venv/.t2i-installed-$(sha256sum pyproject.toml | cut -c1-16)-${extra:-base}"
    if [ ! -f "$stamp" ]; then
        echo "Installing t2i${extra:+ with the $extra extra} into .venv (the first time takes a few minutes: torch is large)"
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$target"
        rm -f .venv/.t2i-installed-*
        touch "$stamp"
    fi
}
