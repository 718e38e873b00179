#!/usr/bin/env bash
# Register nnstudio with the desktop for the current user: menu entry, icons, AppStream metainfo,
# and the application/x-nnstudio-project MIME type so double-clicking a .nns file opens nnstudio.
#
#   packaging/linux/install-desktop.sh                      # uses `nnstudio` found on PATH
#   packaging/linux/install-desktop.sh --exec /opt/nnstudio/nnstudio
#   dist/nnstudio/install-desktop.sh                        # beside a frozen build: uses that build
#   packaging/linux/install-desktop.sh --uninstall
#
# Files go under ${XDG_DATA_HOME:-~/.local/share} (pass --prefix /usr/local/share, as root, for every
# user). Nothing outside that folder is touched; the cache tools run only when they are installed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
exec_path=""
icons_dir=""
uninstall=0
app_id="io.github.nnstudio"
mime_type="application/x-nnstudio-project"
mime_icon="application-x-nnstudio-project"

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    echo "options: --exec PATH  --prefix DATA_DIR  --icons ICON_DIR  --uninstall  --help"
}

die() { echo "install-desktop.sh: error: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --exec) [ $# -ge 2 ] || die "--exec needs a path"; exec_path="$2"; shift 2 ;;
        --prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; data_home="$2"; shift 2 ;;
        --icons) [ $# -ge 2 ] || die "--icons needs a folder"; icons_dir="$2"; shift 2 ;;
        --uninstall) uninstall=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
    esac
done

# The definition files sit beside this script both in a source checkout (packaging/linux/) and in a
# frozen build folder, where build.sh copies them next to the executable.
for file in "$app_id.desktop" "$app_id.metainfo.xml" nnstudio-mime.xml; do
    [ -f "$here/$file" ] || die "$here/$file is missing; run this script from packaging/linux or a build folder"
done

refresh_caches() {
    if command -v update-mime-database >/dev/null; then update-mime-database "$data_home/mime"; fi
    if command -v update-desktop-database >/dev/null; then
        update-desktop-database "$data_home/applications" || true  # a stale cache only delays the menu
    fi
    if command -v gtk-update-icon-cache >/dev/null && [ -f "$data_home/icons/hicolor/index.theme" ]; then
        gtk-update-icon-cache --force --quiet "$data_home/icons/hicolor" || true
    fi
}

if [ "$uninstall" = 1 ]; then
    rm -f "$data_home/applications/$app_id.desktop" "$data_home/metainfo/$app_id.metainfo.xml" \
          "$data_home/mime/packages/$app_id.xml" "$data_home/icons/hicolor/scalable/apps/nnstudio.svg"
    for png in "$data_home"/icons/hicolor/*/apps/nnstudio.png \
               "$data_home"/icons/hicolor/*/mimetypes/"$mime_icon".png; do
        rm -f "$png"
    done
    refresh_caches
    echo "nnstudio removed from $data_home"
    exit 0
fi

if [ -z "$icons_dir" ]; then
    for candidate in "$here/../../resources/icons" "$here/_internal/nnstudio/resources/icons" \
                     "$here/nnstudio/resources/icons"; do
        if [ -f "$candidate/nnstudio.svg" ]; then icons_dir="$(cd "$candidate" && pwd)"; break; fi
    done
fi
[ -n "$icons_dir" ] && [ -f "$icons_dir/nnstudio.svg" ] || die "no icons found; pass --icons path/to/resources/icons"

# The menu entry needs an absolute command: the desktop's PATH is not the shell's (a venv is not active).
if [ -z "$exec_path" ]; then
    if [ -x "$here/nnstudio" ] && [ ! -d "$here/nnstudio" ]; then
        exec_path="$here/nnstudio"
    elif command -v nnstudio >/dev/null; then
        exec_path="$(command -v nnstudio)"
    else
        die "'nnstudio' is not on PATH; pass --exec /path/to/nnstudio (e.g. .venv/bin/nnstudio)"
    fi
fi
[ -x "$exec_path" ] || die "--exec $exec_path is not an executable file"
exec_path="$(cd "$(dirname "$exec_path")" && pwd)/$(basename "$exec_path")"
case "$exec_path" in
    # characters the Exec key would need escaped twice over (and sed below would misread): refuse them
    *[\"\'\\\$\`\|\&%]*) die "move nnstudio to a folder whose path has none of \" ' \\ \$ \` | & % ($exec_path)" ;;
esac
exec_command="$exec_path"
case "$exec_path" in *[[:space:]]*) exec_command="\"$exec_path\"" ;; esac

mkdir -p "$data_home/applications" "$data_home/metainfo" "$data_home/mime/packages" \
         "$data_home/icons/hicolor/scalable/apps"

sed -e "s|^Exec=nnstudio |Exec=$exec_command |" -e "s|^TryExec=nnstudio\$|TryExec=$exec_path|" \
    "$here/$app_id.desktop" > "$data_home/applications/$app_id.desktop"
cp "$here/$app_id.metainfo.xml" "$data_home/metainfo/$app_id.metainfo.xml"
cp "$here/nnstudio-mime.xml" "$data_home/mime/packages/$app_id.xml"
cp "$icons_dir/nnstudio.svg" "$data_home/icons/hicolor/scalable/apps/nnstudio.svg"
for png in "$icons_dir"/hicolor/*/apps/nnstudio.png; do
    size_dir="$(basename "$(dirname "$(dirname "$png")")")"
    mkdir -p "$data_home/icons/hicolor/$size_dir/apps" "$data_home/icons/hicolor/$size_dir/mimetypes"
    cp "$png" "$data_home/icons/hicolor/$size_dir/apps/nnstudio.png"
    # .nns files show the application's mark in file managers
    cp "$png" "$data_home/icons/hicolor/$size_dir/mimetypes/$mime_icon.png"
done

refresh_caches
if command -v xdg-mime >/dev/null; then
    xdg-mime default "$app_id.desktop" "$mime_type" || true  # no desktop session (e.g. over ssh) is fine
fi
echo "nnstudio registered in $data_home (runs $exec_path)"
