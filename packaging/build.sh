#!/usr/bin/env bash
# Build the standalone nnstudio app folder with PyInstaller: dist/nnstudio/ (and dist/nnstudio.app on macOS).
#
#   packaging/build.sh                        # fresh build environment in build/venv (pip install . + PyInstaller)
#   packaging/build.sh --python .venv/bin/python   # use an environment where nnstudio is already installed
#   packaging/build.sh --clean                # also delete build/pyinstaller and dist/nnstudio first
#
# Run from anywhere; paths are relative to the repository root. The build needs the same operating
# system it targets (PyInstaller does not cross-compile). Expect several GB with the CUDA torch wheel.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python=""
clean=0
pyinstaller_spec="pyinstaller>=6.10,<7"

while [ $# -gt 0 ]; do
    case "$1" in
        --python) [ $# -ge 2 ] || { echo "build.sh: --python needs an interpreter" >&2; exit 2; }
                  python="$2"; shift 2 ;;
        --clean) clean=1; shift ;;
        -h|--help) sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "build.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

cd "$root"
if [ -z "$python" ]; then
    # A separate environment keeps the build reproducible and keeps PyInstaller out of the dev venv.
    if [ ! -x build/venv/bin/python ]; then
        base="$(command -v python3 || command -v python)" || { echo "build.sh: no python3 on PATH" >&2; exit 1; }
        "$base" -m venv build/venv
    fi
    python="build/venv/bin/python"
    "$python" -m pip install --quiet --upgrade pip
    "$python" -m pip install --quiet . "$pyinstaller_spec"
else
    "$python" -c "import nnstudio" 2>/dev/null \
        || { echo "build.sh: nnstudio is not installed in $python (pip install -e . first)" >&2; exit 1; }
    "$python" -c "import PyInstaller" 2>/dev/null || "$python" -m pip install --quiet "$pyinstaller_spec"
fi

if [ "$clean" = 1 ]; then rm -rf build/pyinstaller dist/nnstudio dist/nnstudio.app; fi

started=$(date +%s)
"$python" -m PyInstaller --noconfirm --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/nnstudio.spec
echo "PyInstaller finished in $(( $(date +%s) - started )) s"

if [ "$(uname -s)" = Linux ]; then
    # The desktop integration travels with the folder: dist/nnstudio/install-desktop.sh registers this build.
    cp packaging/linux/io.github.nnstudio.desktop packaging/linux/io.github.nnstudio.metainfo.xml \
       packaging/linux/nnstudio-mime.xml packaging/linux/install-desktop.sh dist/nnstudio/
fi

echo "app folder: dist/nnstudio ($(du -sh dist/nnstudio | cut -f1))"
dist/nnstudio/nnstudio --version
