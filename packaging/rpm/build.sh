#!/usr/bin/env bash
# Build the Fukurou RPM for EL8/EL9, on EL or on Debian (CI).
#
#   packaging/rpm/build.sh [--outdir DIR] [--release N] [--pyver 3.11|3.12] [--arch ARCH]
#                          [--config FILE]
#
# 1. installs rpmbuild (and rpmlint) when missing and we are root (apt-get or dnf);
# 2. builds the project's wheel from the work tree (tracked + untracked, not ignored, files);
# 3. installs it and the hash-pinned wheels of requirements.lock (downloaded once by hash into
#    ~/.cache/fukurou-rpm/wheels) into a site-packages tree for manylinux_2_28_ARCH / cpPYVER;
# 4. writes the default /etc/fukurou/config.ini (`python3 -m appliance.settings --template`,
#    or --config FILE);
# 5. rpmbuild -bb fukurou.spec; the RPM lands in --outdir (default dist/rpm). Prints its path last.
# Exit codes: 0 built, 1 failed, 3 rpmbuild missing and not installable here.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
spec=$here/fukurou.spec
outdir=$root/dist/rpm
release=1
pyver=$(sed -n 's/^%{!?pyver: %global pyver \([0-9.]*\)}$/\1/p' "$spec")
arch=$(uname -m)
config=""
cache=${FUKUROU_RPM_CACHE:-$HOME/.cache/fukurou-rpm}
PY=${PYTHON:-python3}

while [ $# -gt 0 ]; do
    case $1 in
        --outdir) outdir=$(mkdir -p "$2" && cd "$2" && pwd); shift 2 ;;
        --release) release=$2; shift 2 ;;
        --pyver) pyver=$2; shift 2 ;;
        --arch) arch=$2; shift 2 ;;
        --config) config=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown argument $1" >&2; exit 1 ;;
    esac
done
say() { echo "build.sh: $*" >&2; }

# --- 1. tools ----------------------------------------------------------------------------------
if ! command -v rpmbuild >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    if command -v apt-get >/dev/null 2>&1; then
        say "installing rpm, rpmlint (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq rpm rpm2cpio >/dev/null
        apt-get install -y -qq rpmlint >/dev/null 2>&1 || say "rpmlint not installable; lint skipped"
    elif command -v dnf >/dev/null 2>&1; then
        say "installing rpm-build, rpmlint, python$pyver, systemd/firewalld macros (dnf)"
        dnf install -y -q rpm-build rpmlint "python$pyver" firewalld-filesystem \
            systemd-rpm-macros >/dev/null 2>&1 || dnf install -y -q rpm-build "python$pyver" \
            firewalld-filesystem systemd >/dev/null
    fi
fi
if ! command -v rpmbuild >/dev/null 2>&1; then
    say "rpmbuild is not installed and cannot be installed here (need root with apt-get or dnf)"
    exit 3
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/fukurou-rpm.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache/wheels" "$outdir"

# --- 2. the project's wheel, from the work tree -----------------------------------------------
mkdir "$work/src"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$root" && git ls-files -z -co --exclude-standard | xargs -0 tar -cf - --ignore-failed-read 2>/dev/null) \
        | tar -xf - -C "$work/src"
else
    tar -C "$root" --exclude=./dist --exclude=./build --exclude='*.egg-info' -cf - . | tar -xf - -C "$work/src"
fi
version=$(cd "$work/src" && $PY -c 'import appliance; print(appliance.__version__)')
say "fukurou $version-$release, python$pyver, $arch"
pipq=(-q --disable-pip-version-check)
export PIP_ROOT_USER_ACTION=ignore
# The packet path is compiled by mypyc (setup.py) when this interpreter and machine are the
# target's; the extensions use only CPython's API and old libc symbols, so the wheel is tagged
# manylinux_2_28 (the RPM's glibc requirement, checked by tests/test_rpm.py, proves it). For
# another Python or architecture the wheel is plain Python.
native=$($PY -c 'import sys, platform; print(f"{sys.version_info[0]}.{sys.version_info[1]} {platform.machine()}")')
if [ "$native" != "$pyver $arch" ] || ! command -v cc >/dev/null 2>&1; then
    say "building plain Python ($native here; the RPM is for $pyver $arch)"
    export FUKUROU_PURE=1
fi
# Compiling takes minutes: the wheel is kept by the hash of the tree it was built from, and a
# checkout whose editable build is fresh (pip install -e ., as scripts/test.sh does) lends its
# extensions, compiled from these very files, to a plain-Python wheel instead of compiling again.
key=$( (cd "$work/src" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-20)
built=$cache/own/$key-$pyver-$arch${FUKUROU_PURE:+-pure}
tag="cp${pyver/./}-cp${pyver/./}-manylinux_2_28_$arch"
lent=()
if [ -z "${FUKUROU_PURE:-}" ] && command -v readelf >/dev/null 2>&1 && (cd "$root" && $PY -c \
        'import sys, appliance.native as n; sys.exit(not (n.compiled() and not n.stale_modules()))') 2>/dev/null; then
    mapfile -t lent < <(cd "$root" && $PY -c 'import appliance.native as n; print("\n".join(n.extension_files()))')
    for so in "${lent[@]}"; do  # linked with the builder's run path: not for an RPM (see below)
        if readelf -d "$root/$so" | grep -q -E 'RPATH|RUNPATH'; then lent=(); break; fi
    done
fi
if ls "$built"/fukurou-*.whl >/dev/null 2>&1; then
    say "the project's wheel of this tree is already built ($built)"
    mkdir -p "$work/wheel" && cp "$built"/fukurou-*.whl "$work/wheel/"
else
    # Link the extensions without the builder's run path (a pyenv or venv Python adds its lib dir
    # with -rpath, which rpmlint rejects and which means nothing on the target).
    export LDSHARED="${CC:-cc} -shared"
    [ ${#lent[@]} -gt 0 ] && export FUKUROU_PURE=1
    needs="setuptools, wheel, mypy"  # what setup.py imports: without them here, pip fetches them for the build
    [ -n "${FUKUROU_PURE:-}" ] && needs="setuptools, wheel"
    if $PY -c "import $needs" >/dev/null 2>&1; then
        $PY -m pip wheel "${pipq[@]}" --no-deps --no-build-isolation -w "$work/wheel" "$work/src" >&2
    else
        $PY -m pip wheel "${pipq[@]}" --no-deps -w "$work/wheel" "$work/src" >&2
    fi
    whl=$(ls "$work"/wheel/fukurou-*.whl)
    if [ ${#lent[@]} -gt 0 ]; then
        say "using the checkout's compiled extensions (${#lent[@]} files, fresh)"
        $PY "$here/retag_wheel.py" "$whl" "$tag" --add "$root" "${lent[@]}" >/dev/null
    else
        case $whl in *-linux_"$arch".whl) $PY "$here/retag_wheel.py" "$whl" "$tag" >/dev/null ;; esac
    fi
    mkdir -p "$built" && cp "$work"/wheel/fukurou-*.whl "$built/"
    ls -dt "$cache"/own/*/ | tail -n +6 | xargs -r rm -rf  # the five newest trees are enough
fi
unset FUKUROU_PURE
whl=$(ls "$work"/wheel/fukurou-*.whl)
{
    cat "$here/requirements.lock"
    echo "fukurou @ file://$whl --hash=sha256:$(sha256sum "$whl" | cut -d' ' -f1)"
} > "$work/requirements.txt"

# --- 3. the site-packages tree ------------------------------------------------------------------
target=(--only-binary=:all: --implementation cp --python-version "$pyver"
        --platform "manylinux_2_28_$arch" --platform "manylinux_2_17_$arch" --platform "manylinux2014_$arch")
stage=$work/fukurou-tree-$version
install_site() {
    rm -rf "$stage/site-packages"
    $PY -m pip install "${pipq[@]}" --no-index --find-links "$cache/wheels" --find-links "$work/wheel" \
        --require-hashes --no-deps --no-compile --target "$stage/site-packages" "${target[@]}" \
        -r "$work/requirements.txt" > "$work/pip.log" 2>&1
}
if ! install_site 2>/dev/null; then
    say "downloading wheels by hash into $cache/wheels"
    $PY -m pip download "${pipq[@]}" --require-hashes --no-deps -d "$cache/wheels" "${target[@]}" \
        -r "$here/requirements.lock" > "$work/pip.log" 2>&1 || { cat "$work/pip.log" >&2; exit 1; }
    install_site || { cat "$work/pip.log" >&2; exit 1; }
fi
site=$stage/site-packages
# The migrations and the viewer's files: the wheel carries them as data files (share/fukurou/,
# which --target puts in <site>/share), but appliance/paths.py looks in sys.prefix/share/fukurou
# (/usr: not ours) or next to the package (<site>/sql, <site>/web). Put them next to it.
for d in sql web; do
    if [ -d "$site/share/fukurou/$d" ]; then mv "$site/share/fukurou/$d" "$site/$d"
    elif [ ! -d "$site/$d" ]; then cp -a "$work/src/$d" "$site/$d"; fi
done
# Console scripts written with the build host's shebang (we ship our own launcher), and apsw's
# optional SQLite shell/extension binaries (unused; they would add a libsqlite3_tool.so dependency).
# Test suites and docs of the dependencies are not needed at run time either.
rm -rf "$site/bin" "$site/apsw/sqlite_extra_binaries" "$site/apsw/tests" "$site/cheroot/test" "$site/share"
# ELF dependencies (glibc versions) are generated only for executable shared objects.
find "$site" -name '*.so*' -type f -exec chmod 0755 {} +
find "$site" -name '__pycache__' -type d -prune -exec rm -rf {} +

# --- 4. default config, docs ------------------------------------------------------------------
if [ -n "$config" ]; then
    cp "$config" "$stage/config.ini"
else
    (cd "$work/src" && $PY -m appliance.settings --template) > "$stage/config.ini"
fi
cp "$work/src/appliance/data/NOTICE" "$work/src/README.md" "$stage/"
cp "$work/src/docs/INSTALL.md" "$stage/" 2>/dev/null || echo "# see README.md" > "$stage/INSTALL.md"

# The spec's bundled() Provides must name what is really inside.
for pin in $(grep -E '^[A-Za-z0-9._-]+==' "$here/requirements.lock" | cut -d' ' -f1); do
    name=$(echo "${pin%%==*}" | tr 'A-Z_.' 'a-z--')
    grep -q "^Provides: *bundled(python3dist($name)) = ${pin##*==}\$" "$spec" \
        || { say "fukurou.spec lacks: Provides: bundled(python3dist($name)) = ${pin##*==}"; exit 1; }
done

# --- 5. rpmbuild --------------------------------------------------------------------------------
top=$work/rpmbuild
mkdir -p "$top/SOURCES"
tar -C "$work" -czf "$top/SOURCES/fukurou-tree-$version.tar.gz" "fukurou-tree-$version"
cp "$here"/fukurou.launcher "$here"/fukurou.service "$here"/fukurou-expire.service \
   "$here"/fukurou-expire.timer "$here"/50-fukurou.preset "$here"/fukurou.sysusers \
   "$here"/fukurou-firewalld.xml "$top/SOURCES/"
args=(--define "_topdir $top" --define "fukurou_version $version" --define "fukurou_release $release"
      --define "pyver $pyver")
# --target re-reads the macro files and would drop a --load file: only for a cross-arch build.
[ "$arch" = "$(uname -m)" ] || args+=(--target "$arch")
# Debian's rpm lacks the systemd/firewalld macros: load the fallbacks (never on EL).
[ -n "$(rpm --eval '%{?_unitdir}')" ] || args+=(--load "$here/macros.debian-ci")
# BuildRequires are checked against the rpm database; on a non-RPM system (Debian) it is empty.
rpm -q rpm >/dev/null 2>&1 || args+=(--nodeps)
rpmbuild -bb "${args[@]}" "$spec" > "$work/rpmbuild.log" 2>&1 \
    || { cat "$work/rpmbuild.log" >&2; say "rpmbuild failed"; exit 1; }
rpmfile=$(find "$top/RPMS" -name "fukurou-$version-$release*.rpm" | head -n1)
cp "$rpmfile" "$outdir/"
echo "$outdir/$(basename "$rpmfile")"
