#!/usr/bin/env bash
# Builds pyvisor's engine: CPython 3.13.5 for wasm32-wasip1, from Debian's
# sources and Debian's toolchain packages, with our hooks (engine/src) linked in.
#
#   npm run engine:build            # full build, cached steps are skipped
#   PYVISOR_ENGINE_JOBS=4 npm run engine:build
#   npm run engine:build -- --variant scientific   # engine/variants/scientific (numpy)
#
# Everything it downloads or builds lives under engine/.build (git-ignored); the
# machine's own apt configuration is never touched: apt-get runs with a private
# sources list, lists directory and archive cache. Outputs go to engine/dist/.
# Needs: Debian bookworm (or newer), root or a working `apt-get download`,
# python3, make, a native C compiler (for the native comparison build), node.
set -euo pipefail

ENGINE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="${PYVISOR_ENGINE_BUILD_DIR:-$ENGINE_DIR/.build}"
DIST="$ENGINE_DIR/dist"
# A variant shares the CPython build and adds what engine/variants/NAME/variant.sh
# builds (extension modules linked into python.wasm, files in the image); its
# artifacts go to engine/variants/NAME, never to engine/dist.
VARIANT=""
if [ "${1:-}" = "--variant" ] && [ -n "${2:-}" ]; then
  VARIANT=$2
  [ -f "$ENGINE_DIR/variants/$VARIANT/variant.sh" ] || { echo "engine build: no variant '$VARIANT'" >&2; exit 1; }
  DIST="$ENGINE_DIR/variants/$VARIANT"
elif [ $# -gt 0 ]; then
  echo "engine build: unknown arguments: $* (only --variant NAME)" >&2; exit 1
fi
JOBS="${PYVISOR_ENGINE_JOBS:-$(nproc)}"
START_TIME=$(date +%s)
# Fixed __DATE__/__TIME__ and archive timestamps, so the same inputs give the same bytes.
export SOURCE_DATE_EPOCH=1749600000

CPYTHON_VERSION=3.13.5
CPYTHON_ORIG_SHA256=93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640
TOOLCHAIN_PACKAGES=(clang-19 llvm-19 lld-19 libclang-rt-19-dev-wasm32 libclang-common-19-dev libclang-cpp19 libllvm19 llvm-19-linker-tools)

step_no=0
step() { step_no=$((step_no + 1)); printf '\n\033[1m[%s] %s\033[0m (+%ss)\n' "$step_no" "$*" "$(( $(date +%s) - START_TIME ))"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'engine build: %s\n' "$*" >&2; exit 1; }

mkdir -p "$BUILD"/{apt/lists/partial,apt/archives/partial,apt/sources.list.d,apt/preferences.d,src,toolchain,stamps} "$DIST"

# ---------------------------------------------------------------- apt, privately
APT_OPTS=(
  -o "Dir::Etc::sourcelist=$BUILD/apt/sources.list"
  -o "Dir::Etc::sourceparts=$BUILD/apt/sources.list.d"
  -o "Dir::Etc::preferencesparts=$BUILD/apt/preferences.d"
  -o "Dir::State::Lists=$BUILD/apt/lists"
  -o "Dir::Cache::archives=$BUILD/apt/archives"
  -o "APT::Default-Release=bookworm"
  -o "Debug::NoLocking=1"
  -q
)
apt_private() { apt-get "${APT_OPTS[@]}" "$@"; }

step "private apt sources (bookworm for the toolchain, trixie for wasi-libc and CPython 3.13.5)"
cat > "$BUILD/apt/sources.list" <<'EOF'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
EOF
if [ ! -f "$BUILD/stamps/apt-update" ] || [ -n "$(find "$BUILD/stamps/apt-update" -mmin +1440)" ]; then
  apt_private update
  touch "$BUILD/stamps/apt-update"
else
  note "package lists are fresh (less than a day old)"
fi

# ---------------------------------------------------------------- toolchain
step "toolchain: ${TOOLCHAIN_PACKAGES[*]} + wasi-libc/trixie, unpacked into $BUILD/toolchain"
TC="$BUILD/toolchain"
if [ ! -f "$BUILD/stamps/toolchain" ]; then
  mkdir -p "$BUILD/debs" && cd "$BUILD/debs"
  # The named packages always, plus whatever of their dependencies this machine lacks.
  apt_private download "${TOOLCHAIN_PACKAGES[@]}"
  apt_private download wasi-libc/trixie
  apt_private install --download-only --no-install-recommends -y "${TOOLCHAIN_PACKAGES[@]}" >/dev/null
  cp -n "$BUILD"/apt/archives/*.deb . 2>/dev/null || true
  for deb in ./*.deb; do dpkg-deb -x "$deb" "$TC"; done
  touch "$BUILD/stamps/toolchain"
else
  note "cached"
fi
LLVM="$TC/usr/lib/llvm-19"
export LD_LIBRARY_PATH="$TC/usr/lib/x86_64-linux-gnu:$LLVM/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
RESOURCE_DIR="$("$LLVM/bin/clang" -print-resource-dir)"
# clang looks for wasm32-unknown-wasip1's compiler-rt where Debian does not put it.
mkdir -p "$RESOURCE_DIR/lib/wasm32-unknown-wasip1"
ln -sf ../wasi/libclang_rt.builtins-wasm32.a "$RESOURCE_DIR/lib/wasm32-unknown-wasip1/libclang_rt.builtins.a"
SYSROOT="$TC/usr"   # wasi-libc/trixie puts include/wasm32-wasip1 and lib/wasm32-wasip1 here
[ -d "$SYSROOT/include/wasm32-wasip1" ] || die "wasi-libc headers not found under $SYSROOT/include"
"$LLVM/bin/clang" --version | head -1 | sed 's/^/    /'

# A directory that poses as a WASI SDK, for CPython's Tools/wasm/wasi.py and for our own compiles.
SDK="$BUILD/wasi-sdk"
mkdir -p "$SDK/bin"
for tool in clang clang++; do
  cat > "$SDK/bin/$tool" <<EOF
#!/bin/sh
export LD_LIBRARY_PATH="$LD_LIBRARY_PATH"
exec "$LLVM/bin/$tool" --target=wasm32-wasip1 --sysroot="$SYSROOT" "\$@"
EOF
done
for tool in ar ranlib nm strip objdump llvm-ar llvm-ranlib; do
  cat > "$SDK/bin/$tool" <<EOF
#!/bin/sh
export LD_LIBRARY_PATH="$LD_LIBRARY_PATH"
exec "$LLVM/bin/llvm-${tool#llvm-}" "\$@"
EOF
done
cat > "$SDK/bin/wasm-ld" <<EOF
#!/bin/sh
export LD_LIBRARY_PATH="$LD_LIBRARY_PATH"
exec "$LLVM/bin/wasm-ld" "\$@"
EOF
cat > "$SDK/bin/clang-cpp" <<EOF
#!/bin/sh
export LD_LIBRARY_PATH="$LD_LIBRARY_PATH"
exec "$LLVM/bin/clang" --target=wasm32-wasip1 --sysroot="$SYSROOT" -E "\$@"
EOF
# Debian's clang asks for the versioned linker name.
ln -sf wasm-ld "$LLVM/bin/wasm-ld-19"
chmod +x "$SDK"/bin/*
mkdir -p "$SDK/share" && ln -sfn "$SYSROOT" "$SDK/share/wasi-sysroot"
WCC="$SDK/bin/clang"
WAR="$SDK/bin/ar"
PREFIX="$BUILD/wasi-prefix"   # zlib, sqlite3, bzip2, liblzma and libuuid for wasm32-wasip1
mkdir -p "$PREFIX"/{include,lib}

# ---------------------------------------------------------------- sources
fetch_source() { # package/suite -> unpacks into $BUILD/src/<package>
  local spec=$1 pkg=${1%%/*}
  if [ ! -d "$BUILD/src/$pkg" ]; then
    mkdir -p "$BUILD/src/dl-$pkg" && (cd "$BUILD/src/dl-$pkg" && apt_private source --download-only "$spec")
  fi
}
step "sources: python3.13/trixie, zlib/bookworm, sqlite3/trixie (3.41+ compiles for WASI), bzip2/bookworm, xz-utils/bookworm, util-linux/trixie"
fetch_source python3.13/trixie
ORIG=$(ls "$BUILD"/src/dl-python3.13/python3.13_*.orig.tar.xz)
echo "$CPYTHON_ORIG_SHA256  $ORIG" | sha256sum -c --quiet - || die "CPython orig tarball checksum mismatch"
note "python3.13 orig tarball sha256 ok: $CPYTHON_ORIG_SHA256"
fetch_source zlib/bookworm
fetch_source sqlite3/trixie
fetch_source bzip2/bookworm
fetch_source xz-utils/bookworm
fetch_source util-linux/trixie   # for libuuid only
unpack_source() { # package directory -> extracts the package's orig tarball into <directory>, afresh
  rm -rf "$2" && mkdir -p "$2"
  tar -xf "$(ls "$BUILD"/src/dl-"$1"/"$1"_*.orig.tar.* | grep -v '\.asc$' | head -1)" -C "$2" --strip-components=1
}

# ---------------------------------------------------------------- zlib
step "zlib for wasm32-wasip1"
if [ ! -f "$PREFIX/lib/libz.a" ]; then
  rm -rf "$BUILD/src/zlib" && mkdir -p "$BUILD/src/zlib"
  tar -xf "$(ls "$BUILD"/src/dl-zlib/zlib_*.orig.tar.* | head -1)" -C "$BUILD/src/zlib" --strip-components=1
  (cd "$BUILD/src/zlib" && CC="$WCC" AR="$WAR" RANLIB="$SDK/bin/ranlib" CFLAGS="-O2" CHOST=wasm32 \
     ./configure --static --prefix="$PREFIX" >/dev/null && make -j"$JOBS" libz.a >/dev/null && make install >/dev/null)
fi
note "$(ls -la "$PREFIX/lib/libz.a" | awk '{print $5}') bytes libz.a"

# ---------------------------------------------------------------- sqlite3
step "sqlite3 amalgamation for wasm32-wasip1, with the \"unix\" VFS's POSIX locks (engine/src/sqlite_wasi_locks.c)"
if [ ! -f "$PREFIX/lib/libsqlite3.a" ]; then
  rm -rf "$BUILD/src/sqlite3" && mkdir -p "$BUILD/src/sqlite3"
  tar -xf "$(ls "$BUILD"/src/dl-sqlite3/sqlite3_*.orig.tar.* | grep -v www | head -1)" -C "$BUILD/src/sqlite3" --strip-components=1
  (cd "$BUILD/src/sqlite3" && mkdir -p native && cd native && ../configure --disable-tcl >/dev/null && make sqlite3.c >/dev/null)
  S="$BUILD/src/sqlite3/native"
  "$WCC" -O2 -c "$S/sqlite3.c" -o "$S/sqlite3.wasm.o" \
    -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_WAL -DSQLITE_OMIT_SHARED_CACHE \
    -DSQLITE_DEFAULT_MEMSTATUS=0 -DSQLITE_ENABLE_MATH_FUNCTIONS -DSQLITE_OMIT_RANDOMNESS=0 \
    -D_WASI_EMULATED_MMAN -D_WASI_EMULATED_GETPID -DSQLITE_MAX_MMAP_SIZE=0 -DSQLITE_OMIT_POPEN \
    -include "$ENGINE_DIR/src/sqlite_wasi_locks.h"
  "$WCC" -O2 -I"$ENGINE_DIR/src" -c "$ENGINE_DIR/src/sqlite_wasi_locks.c" -o "$S/sqlite_wasi_locks.wasm.o"
  "$WAR" rcs "$PREFIX/lib/libsqlite3.a" "$S/sqlite3.wasm.o" "$S/sqlite_wasi_locks.wasm.o"
  cp "$S/sqlite3.h" "$S/sqlite3ext.h" "$PREFIX/include/"
fi
note "$(ls -la "$PREFIX/lib/libsqlite3.a" | awk '{print $5}') bytes libsqlite3.a"

# ---------------------------------------------------------------- bzip2
step "bzip2 (libbz2) for wasm32-wasip1"
if [ ! -f "$PREFIX/lib/libbz2.a" ]; then
  unpack_source bzip2 "$BUILD/src/bzip2"
  (cd "$BUILD/src/bzip2" && make -j"$JOBS" libbz2.a CC="$WCC" AR="$WAR" RANLIB="$SDK/bin/ranlib" \
     CFLAGS="-O2 -D_FILE_OFFSET_BITS=64" >/dev/null)
  cp "$BUILD/src/bzip2/libbz2.a" "$PREFIX/lib/" && cp "$BUILD/src/bzip2/bzlib.h" "$PREFIX/include/"
fi
note "$(stat -c %s "$PREFIX/lib/libbz2.a") bytes libbz2.a"

# ---------------------------------------------------------------- liblzma
step "liblzma (xz-utils) for wasm32-wasip1, single-threaded"
if [ ! -f "$PREFIX/lib/liblzma.a" ]; then
  X="$BUILD/src/xz-utils"
  unpack_source xz-utils "$X"
  # xz 5.4 declares a sigprocmask() helper, used by its command-line tools only,
  # that WASI's libc cannot compile; xz 5.6 leaves it out on wasm the same way.
  sed -i 's|^#if !(defined(_WIN32) && !defined(__CYGWIN__))$|& \&\& !defined(__wasi__)|' "$X/src/common/mythread.h"
  grep -q '__CYGWIN__)) && !defined(__wasi__)' "$X/src/common/mythread.h" || die "xz-utils: mythread.h guard not found"
  (cd "$X" && ./configure --host=wasm32-wasi CC="$WCC" AR="$WAR" RANLIB="$SDK/bin/ranlib" CFLAGS="-O2" \
     --prefix="$PREFIX" --disable-shared --enable-static --enable-threads=no --disable-nls --disable-doc \
     --disable-xz --disable-xzdec --disable-lzmadec --disable-lzmainfo --disable-lzma-links --disable-scripts \
     >/dev/null && make -j"$JOBS" -C src/liblzma >/dev/null && make -C src/liblzma install >/dev/null)
fi
note "$(stat -c %s "$PREFIX/lib/liblzma.a") bytes liblzma.a"

# ---------------------------------------------------------------- libuuid
# util-linux's configure probes for a whole system; libuuid is 14 C files, so
# they are compiled directly with engine/src/libuuid_wasi.h standing in for it.
step "libuuid (util-linux) for wasm32-wasip1"
if [ ! -f "$PREFIX/lib/libuuid.a" ]; then
  U="$BUILD/src/util-linux"
  unpack_source util-linux "$U"
  # include/c.h includes these two; nothing libuuid uses is declared in them.
  mkdir -p "$U/wasi-include" && : > "$U/wasi-include/grp.h" && : > "$U/wasi-include/pwd.h"
  UUID_OBJS=()
  for c in libuuid/src/{clear,compare,copy,gen_uuid,isnull,pack,parse,unpack,unparse,uuid_time,predefined}.c lib/{randutils,md5,sha1}.c; do
    o="$U/wasi-$(basename "$c" .c).o"
    "$WCC" -O2 -DNDEBUG -D_WASI_EMULATED_SIGNAL -D_WASI_EMULATED_GETPID -Wno-invalid-noreturn \
      -include "$ENGINE_DIR/src/libuuid_wasi.h" -I"$U/wasi-include" -I"$U/include" -I"$U/libuuid/src" -c "$U/$c" -o "$o"
    UUID_OBJS+=("$o")
  done
  rm -f "$PREFIX/lib/libuuid.a" && "$WAR" rcs "$PREFIX/lib/libuuid.a" "${UUID_OBJS[@]}"
  mkdir -p "$PREFIX/include/uuid" && cp "$U/libuuid/src/uuid.h" "$PREFIX/include/uuid/"
fi
note "$(stat -c %s "$PREFIX/lib/libuuid.a") bytes libuuid.a"

# ---------------------------------------------------------------- time zone data
# Debian's zoneinfo files, packed into the stdlib image below at TZDIR_GUEST,
# which is zoneinfo's TZPATH (configure --with-tzpath). The guest's own local
# time stays UTC: WASI's libc has no time zones.
step "tzdata/trixie: zoneinfo files"
TZDIR_GUEST=/usr/local/lib/python3.13/zoneinfo-data
if [ ! -f "$BUILD/stamps/tzdata" ]; then
  rm -rf "$BUILD/tzdata" && mkdir -p "$BUILD/tzdata/deb"
  (cd "$BUILD/tzdata/deb" && apt_private download tzdata/trixie)
  dpkg-deb -x "$BUILD"/tzdata/deb/tzdata_*.deb "$BUILD/tzdata/root"
  touch "$BUILD/stamps/tzdata"
fi
note "$(dpkg-deb -f "$BUILD"/tzdata/deb/tzdata_*.deb Version) ($(find "$BUILD/tzdata/root/usr/share/zoneinfo" -type f | wc -l) files)"

# ---------------------------------------------------------------- CPython
CPY="$BUILD/src/cpython"
step "CPython $CPYTHON_VERSION source tree with pyvisor's patches"
# The stamp holds the patches' checksum, so that a new or changed patch starts from a fresh tree.
PATCHES_SUM=$(cat "$ENGINE_DIR"/patches/*.patch | sha256sum | cut -d' ' -f1)
if [ "$(cat "$BUILD/stamps/cpython-source" 2>/dev/null)" != "$PATCHES_SUM" ]; then
  rm -rf "$CPY" && mkdir -p "$CPY"
  tar -xf "$ORIG" -C "$CPY" --strip-components=1
  for p in "$ENGINE_DIR"/patches/*.patch; do note "patch $(basename "$p")"; patch -d "$CPY" -p1 --quiet < "$p"; done
  echo "$PATCHES_SUM" > "$BUILD/stamps/cpython-source"
fi
# Our C files are copied on every run so that edits to them are rebuilt.
cp -p "$ENGINE_DIR/src/pycore_pyvisor_hooks.h" "$CPY/Include/internal/"
cp -p "$ENGINE_DIR/src/pyvisor_hooks.c" "$CPY/Python/"

HOST_RUNNER="node $ENGINE_DIR/tools/build-host-runner.mjs --dir {HOST_DIR}::{GUEST_DIR} --env {ENV_VAR_NAME}={ENV_VAR_VALUE}"
WASI_PY=(python3 "$CPY/Tools/wasm/wasi.py")
CROSS="$CPY/cross-build"

step "native CPython (the build Python, and the baseline for bench/compute)"
if [ ! -x "$CROSS/build/python" ]; then
  (cd "$CPY" && "${WASI_PY[@]}" configure-build-python --quiet && "${WASI_PY[@]}" make-build-python --quiet)
else
  (cd "$CROSS/build" && make -j"$JOBS" all >/dev/null)
fi
"$CROSS/build/python" -c 'import sys; print("    native", sys.version.split()[0])'

# Thin LTO: about 9% faster on the compute benchmarks (bench/README.md); PYVISOR_ENGINE_LTO=no turns it off.
LTO="${PYVISOR_ENGINE_LTO:-thin}"
step "CPython for wasm32-wasip1 (-O3, LTO=$LTO, pymalloc, zlib, sqlite3, bz2, lzma, uuid)"
WASI_CONFIGURE_ARGS=(
  --with-pymalloc
  --with-lto="$LTO"
  ${PYVISOR_ENGINE_CFLAGS:+"CFLAGS=$PYVISOR_ENGINE_CFLAGS"}
  ${PYVISOR_ENGINE_LDFLAGS:+"LDFLAGS=$PYVISOR_ENGINE_LDFLAGS"}
  "ZLIB_CFLAGS=-I$PREFIX/include" "ZLIB_LIBS=-L$PREFIX/lib -lz"
  "LIBSQLITE3_CFLAGS=-I$PREFIX/include" "LIBSQLITE3_LIBS=-L$PREFIX/lib -lsqlite3"
  "BZIP2_CFLAGS=-I$PREFIX/include" "BZIP2_LIBS=-L$PREFIX/lib -lbz2"
  "LIBLZMA_CFLAGS=-I$PREFIX/include" "LIBLZMA_LIBS=-L$PREFIX/lib -llzma"
  # As uuid.pc says for util-linux's libuuid: <uuid.h> from include/uuid.
  "LIBUUID_CFLAGS=-I$PREFIX/include/uuid" "LIBUUID_LIBS=-L$PREFIX/lib -luuid"
  --with-tzpath="$TZDIR_GUEST"
)
# Reconfigure (from scratch) whenever the configure arguments differ from the last build's.
ARGS_STAMP="$BUILD/stamps/wasi-configure-args"
if [ ! -f "$CROSS/wasm32-wasip1/Makefile" ] || [ "$(cat "$ARGS_STAMP" 2>/dev/null)" != "${WASI_CONFIGURE_ARGS[*]}" ]; then
  rm -rf "$CROSS/wasm32-wasip1"
  (cd "$CPY" && "${WASI_PY[@]}" configure-host --quiet --wasi-sdk "$SDK" --host-runner "$HOST_RUNNER" -- "${WASI_CONFIGURE_ARGS[@]}")
  printf '%s' "${WASI_CONFIGURE_ARGS[*]}" > "$ARGS_STAMP"
fi
# _testsinglephase (CPython's test_import and test_types import it) is built only
# as a shared module, which WASI cannot load: built in statically instead. A
# changed Setup.local makes CPython's Makefile regenerate itself (makesetup).
SETUP_LOCAL=$'*static*\n_testsinglephase _testsinglephase.c'
if [ "$(cat "$CROSS/wasm32-wasip1/Modules/Setup.local" 2>/dev/null)" != "$SETUP_LOCAL" ]; then
  printf '%s\n' "$SETUP_LOCAL" > "$CROSS/wasm32-wasip1/Modules/Setup.local"
fi
(cd "$CPY" && "${WASI_PY[@]}" make-host --quiet)

# The variant's own steps; it sets VARIANT_OBJS and VARIANT_LIBS (linked into
# python.wasm) and defines variant_stage (adds its files to the image stage).
VARIANT_OBJS="" VARIANT_LIBS=""
if [ -n "$VARIANT" ]; then
  # shellcheck source=/dev/null
  . "$DIST/variant.sh"
fi

step "pyvisor reactor: python.wasm with our entry points, memory imported"
W="$CROSS/wasm32-wasip1"
REACTOR="pyvisor-reactor${VARIANT:+-$VARIANT}.wasm"
(cd "$W" && make -f Makefile -f "$ENGINE_DIR/src/reactor.mk" PYVISOR_SRC="$ENGINE_DIR/src" \
   PYVISOR_REACTOR="$REACTOR" PYVISOR_EXTRA_OBJS="$VARIANT_OBJS" PYVISOR_EXTRA_LIBS="$VARIANT_LIBS" "$REACTOR" >/dev/null)
# --strip-all drops the name section too: thin LTO's promoted symbol names carry a hash of the build path.
"$SDK/bin/strip" --strip-all -o "$DIST/python.wasm" "$W/$REACTOR"
note "$(stat -c %s "$DIST/python.wasm") bytes python.wasm"

step "stdlib image: precompiled (unchecked-hash .pyc), without tests and what WASI cannot use"
STAGE="$BUILD/stdlib-stage"
rm -rf "$STAGE" && mkdir -p "$STAGE"
(cd "$CPY/Lib" && tar -cf - \
   --exclude=test --exclude=tests --exclude=idle_test --exclude=__pycache__ \
   --exclude=idlelib --exclude=tkinter --exclude=turtledemo --exclude=ensurepip --exclude=turtle.py \
   --exclude=venv --exclude=curses --exclude=__phello__ --exclude=site-packages \
   --exclude='*.exe' --exclude='*.bat' --exclude='*.ps1' --exclude='*.csh' --exclude='*.fish' \
   .) | tar -xf - -C "$STAGE"
cp "$W"/build/lib.wasi-wasm32-3.13/_sysconfigdata__wasi_wasm32-wasi.py "$STAGE/"
cp "$W"/build/lib.wasi-wasm32-3.13/_sysconfig_vars__wasi_wasm32-wasi.json "$STAGE/" 2>/dev/null || true
# Symlinks resolved (the image holds files only); localtime points at the build machine's /etc/localtime.
mkdir -p "$STAGE/${TZDIR_GUEST#/usr/local/lib/python3.13/}"
(cd "$BUILD/tzdata/root/usr/share/zoneinfo" && tar -chf - --exclude=./localtime .) | tar -xf - -C "$STAGE/${TZDIR_GUEST#/usr/local/lib/python3.13/}"
# The build machine's paths must not reach the guest (sysconfig holds compiler command lines).
sed -i "s|$BUILD|/build|g; s|$ENGINE_DIR|/engine|g" "$STAGE"/_sysconfigdata__wasi_wasm32-wasi.py "$STAGE"/_sysconfig_vars__wasi_wasm32-wasi.json 2>/dev/null || true
if [ -n "$VARIANT" ]; then variant_stage "$STAGE"; fi
find "$STAGE" -exec touch -h -d @1749600000 {} +
PYTHONHASHSEED=0 "$CROSS/build/python" -m compileall -q -j "$JOBS" --invalidation-mode unchecked-hash \
  -s "$STAGE" -p /usr/local/lib/python3.13 "$STAGE" >/dev/null
node "$ENGINE_DIR/tools/pack-image.mjs" "$STAGE" "$DIST/stdlib.img"

step "manifest"
node "$ENGINE_DIR/tools/write-manifest.mjs" "$DIST" \
  --cpython "$CPYTHON_VERSION" --source-sha256 "$CPYTHON_ORIG_SHA256" \
  --toolchain "$(cd "$BUILD/debs" && for d in *.deb; do printf "%s=%s\n" "$(dpkg-deb -f "$d" Package)" "$(dpkg-deb -f "$d" Version)"; done | sort | paste -sd,)" \
  --libraries "$({ for d in zlib sqlite3 bzip2 xz-utils util-linux; do printf '%s=%s\n' "$d" "$(sed -n 's/^Version: //p' "$BUILD"/src/dl-"$d"/*.dsc | head -1)"; done; printf 'tzdata=%s\n' "$(dpkg-deb -f "$BUILD"/tzdata/deb/tzdata_*.deb Version)" ; } | paste -sd,)${VARIANT_LIBRARIES:+,$VARIANT_LIBRARIES}" \
  --configure "$(grep -m1 '^CONFIG_ARGS=' "$W/Makefile" | cut -d= -f2- | tr -s ' \t' ' ' | sed "s|$BUILD|<build>|g; s|$ENGINE_DIR|<engine>|g")"

ELAPSED=$(( $(date +%s) - START_TIME ))
printf '\n\033[1mengine build done in %ss\033[0m\n' "$ELAPSED"
(cd "$DIST" && for f in python.wasm stdlib.img manifest.json; do printf '    %-14s %10s bytes  %s\n' "$f" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -c1-16)"; done)
