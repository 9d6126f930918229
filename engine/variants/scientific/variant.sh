# The "scientific" engine variant: CPython with numpy linked in.
# Sourced by engine/build.sh --variant scientific after CPython's wasm build; it
# uses build.sh's variables (BUILD, SDK, SYSROOT, LLVM, CPY, CROSS, JOBS,
# apt_private, fetch_source, step, note, die) and sets VARIANT_OBJS,
# VARIANT_LIBS, VARIANT_LIBRARIES (for the manifest) and variant_stage.
#
# numpy's meson build runs as a cross build for wasm32-wasip1. WASI has no
# shared libraries, so the "linker" that meson calls for an extension module
# (cc.sh with -shared) only writes down that module's objects and archives;
# they are linked into python.wasm here, and inittab.c (generated) registers
# each module's PyInit_ function under its dotted name, which CPython's
# BuiltinImporter finds like any built-in module.

NUMPY_VERSION=2.2.4
SCI="$BUILD/scientific"
SCI_SRC="$ENGINE_DIR/variants/scientific"
W="$CROSS/wasm32-wasip1"   # CPython's wasm build directory (build.sh sets the same name for its link step)
mkdir -p "$SCI"/{bin,debs,root}

step "scientific: cython3/trixie (run by the build's Python) and libc++ for wasm32 (clang 19's)"
if [ ! -f "$BUILD/stamps/scientific-tools" ]; then
  (cd "$SCI/debs" && apt_private download cython3/trixie libc++-19-dev-wasm32 libc++abi-19-dev-wasm32)
  for deb in "$SCI"/debs/*.deb; do dpkg-deb -x "$deb" "$SCI/root"; done
  touch "$BUILD/stamps/scientific-tools"
fi
LIBCXX="$SCI/root/usr/lib/llvm-19"
[ -f "$LIBCXX/lib/wasm32-wasi/libc++.a" ] || die "libc++ for wasm32 not found under $LIBCXX"

step "scientific: numpy $NUMPY_VERSION source, with engine/variants/scientific/patches"
NP="$BUILD/src/numpy"
# The stamp holds the origin and the patches' checksum: a changed patch starts from a fresh tree.
NP_STAMP="${PYVISOR_NUMPY_SRC:-Debian numpy/trixie} $(cat "$SCI_SRC"/patches/*.patch | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$BUILD/stamps/numpy-source" 2>/dev/null)" != "$NP_STAMP" ]; then
  rm -rf "$NP" "$SCI/numpy-build"
  if [ -n "${PYVISOR_NUMPY_SRC:-}" ]; then
    # Where the archive does not serve numpy's orig tarball: a tree of the same
    # release with its submodules (vendored meson, pocketfft, pythoncapi-compat).
    mkdir -p "$NP" && cp -a "$PYVISOR_NUMPY_SRC/." "$NP/"
    echo "PYVISOR_NUMPY_SRC" > "$BUILD/src/numpy.origin"
  else
    fetch_source numpy/trixie
    unpack_source numpy "$NP"
    echo "Debian numpy/trixie" > "$BUILD/src/numpy.origin"
  fi
  for p in "$SCI_SRC"/patches/*.patch; do note "patch $(basename "$p")"; patch -d "$NP" -p1 --quiet < "$p"; done
  echo "$NP_STAMP" > "$BUILD/stamps/numpy-source"
fi
grep -q "^version = \"$NUMPY_VERSION\"" "$NP/pyproject.toml" || die "numpy source is not $NUMPY_VERSION"
note "numpy $NUMPY_VERSION from $(cat "$BUILD/src/numpy.origin")"

# meson asks the build's native CPython (3.13, as the target) about Python; what
# it answers for the native platform (the modules' file suffix, a native include
# directory) does not reach python.wasm: the modules are linked statically and
# compiled against the wasm32 pyconfig.h (see the cross file).
cat > "$SCI/bin/python" <<EOF
#!/bin/sh
exec "$CROSS/build/python" "\$@"
EOF
cat > "$SCI/bin/cython" <<EOF
#!/bin/sh
export PYTHONPATH="$SCI/root/usr/lib/python3/dist-packages"
exec "$CROSS/build/python" -c 'import sys; from Cython.Compiler.Main import setuptools_main; sys.exit(setuptools_main())' "\$@"
EOF
sed -e "s|@CLANG@|$SDK/bin/clang|" "$SCI_SRC/cc.sh" > "$SCI/bin/cc"
sed -e "s|@CLANG@|$SDK/bin/clang++|" "$SCI_SRC/cc.sh" > "$SCI/bin/c++"
chmod +x "$SCI"/bin/*

# Python's headers as the wasm32 build sees them (its pyconfig.h), for meson's python dependency.
# Copied with their times kept: a newer copy would make ninja recompile all of numpy.
PYINC="$SCI/python-include/python3.13"
rm -rf "$PYINC" && mkdir -p "$PYINC" "$SCI/pkgconfig"
cp -a "$CPY/Include/." "$PYINC/" && cp -p "$W/pyconfig.h" "$PYINC/"
cat > "$SCI/pkgconfig/python-3.13.pc" <<EOF
Name: Python
Description: CPython $CPYTHON_VERSION for wasm32-wasip1 (headers only; modules are linked into python.wasm)
Version: 3.13
Cflags: -I$PYINC
Libs:
EOF

CROSS_FILE="$SCI/wasm32-wasip1.ini"
cat > "$CROSS_FILE" <<EOF
[binaries]
c = '$SCI/bin/cc'
cpp = '$SCI/bin/c++'
ar = '$SDK/bin/ar'
strip = '$SDK/bin/strip'
python = '$SCI/bin/python'

[host_machine]
system = 'wasi'
cpu_family = 'wasm32'
cpu = 'wasm32'
endian = 'little'

[properties]
needs_exe_wrapper = true
# wasm32's long double is IEEE binary128, little-endian (done in software).
longdouble_format = 'IEEE_QUAD_LE'
pkg_config_libdir = '$SCI/pkgconfig'

[built-in options]
# The wasm32 build's pyconfig.h ahead of any other: meson's python dependency
# also names the native build's directory, whose pyconfig.h is for x86-64.
c_args = ['-O2', '-include', '$PYINC/pyconfig.h', '-D_WASI_EMULATED_SIGNAL', '-D_WASI_EMULATED_PROCESS_CLOCKS', '-D_WASI_EMULATED_MMAN']
cpp_args = ['-O2', '-include', '$PYINC/pyconfig.h', '-D_WASI_EMULATED_SIGNAL', '-D_WASI_EMULATED_PROCESS_CLOCKS', '-D_WASI_EMULATED_MMAN',
            '-nostdinc++', '-isystem', '$LIBCXX/include/wasm32-wasi/c++/v1', '-fno-exceptions',
            '-include', '$SCI_SRC/no_threads_mutex.h']
EOF
# Cython runs on the build machine: meson reads it from the native file.
NATIVE_FILE="$SCI/native.ini"
printf "[binaries]\ncython = '%s'\n" "$SCI/bin/cython" > "$NATIVE_FILE"

step "scientific: numpy $NUMPY_VERSION for wasm32-wasip1 (meson cross build, no SIMD, no BLAS: numpy's lapack_lite)"
NPB="$SCI/numpy-build"
if [ ! -f "$NPB/build.ninja" ]; then
  rm -rf "$NPB"
  (cd "$NP" && python3 vendored-meson/meson/meson.py setup "$NPB" --cross-file "$CROSS_FILE" --native-file "$NATIVE_FILE" \
     --buildtype=release -Db_ndebug=if-release --prefix=/usr/local \
     -Dblas=none -Dlapack=none -Dallow-noblas=true \
     -Ddisable-highway=true -Ddisable-intel-sort=true -Ddisable-svml=true -Ddisable-threading=true \
     -Ddisable-optimization=true -Dcpu-baseline=none -Dcpu-dispatch=none) > "$SCI/meson-setup.log" \
     || { tail -30 "$SCI/meson-setup.log"; die "numpy: meson setup failed (log: $SCI/meson-setup.log)"; }
fi
ninja -C "$NPB" -j"$JOBS" > "$SCI/ninja.log" || { grep -B2 -A20 -m3 -E 'error|FAILED' "$SCI/ninja.log"; die "numpy: build failed (log: $SCI/ninja.log)"; }
note "numpy built"

step "scientific: numpy's extension modules, linked into python.wasm under their dotted names"
LINKDIR="$SCI/link"
rm -rf "$LINKDIR" && mkdir -p "$LINKDIR"
note "$(python3 "$SCI_SRC/link-plan.py" "$NPB" "$LINKDIR")"
# Loose objects go into one archive: the linker then takes only what the
# modules' PyInit_ functions reach.
xargs "$SDK/bin/ar" rcs "$LINKDIR/libnumpy-modules.a" < "$LINKDIR/objects"
"$SDK/bin/clang" -O2 -I"$PYINC" -c "$LINKDIR/inittab.c" -o "$LINKDIR/inittab.o"
# cxa_throw.c returns a C++ throw to its guard by longjmp: wasi-libc's setjmp, on the exception-handling proposal.
"$SDK/bin/clang" -O2 -mllvm -wasm-enable-sjlj -c "$SCI_SRC/cxa_throw.c" -o "$LINKDIR/cxa_throw.o"
VARIANT_OBJS="$LINKDIR/inittab.o $LINKDIR/cxa_throw.o"
# wasi-libc formats long double (np.longdouble's C-level printf/strtold) only with its printscan library.
# The ThinLTO cache keeps CPython's compiled modules between relinks (a relink then takes minutes less).
VARIANT_LIBS="$LINKDIR/libnumpy-modules.a $(tr '\n' ' ' < "$LINKDIR/archives") $LIBCXX/lib/wasm32-wasi/libc++.a $LIBCXX/lib/wasm32-wasi/libc++abi.a $SYSROOT/lib/wasm32-wasip1/libc-printscan-long-double.a $SYSROOT/lib/wasm32-wasip1/libsetjmp.a -Wl,--thinlto-cache-dir=$SCI/thinlto-cache"
VARIANT_LIBRARIES="numpy=$NUMPY_VERSION ($(cat "$BUILD/src/numpy.origin")),cython3=$(dpkg-deb -f "$SCI"/debs/cython3_*.deb Version),libc++-19-dev-wasm32=$(dpkg-deb -f "$SCI"/debs/libc++-19-dev-wasm32_*.deb Version)"

# numpy's Python files, as meson installs them, without the compiled modules
# (they are in python.wasm), the tests (a separate layer) and typing stubs.
variant_stage() {
  local stage=$1 dest="$SCI/install"
  rm -rf "$dest"
  python3 "$NP/vendored-meson/meson/meson.py" install -C "$NPB" --no-rebuild --quiet --destdir "$dest" >/dev/null
  local site
  site=$(dirname "$(find "$dest" -type d -name numpy -path '*-packages/numpy' | head -1)")
  [ -d "$site/numpy" ] || die "numpy: meson install left no numpy package under $dest"
  (cd "$site" && tar -cf - --exclude=tests --exclude='*.so' --exclude='*.pyi' --exclude='*.pxd' \
     --exclude='*.h' --exclude='*.c' --exclude=_pyinstaller --exclude=__pycache__ numpy) | tar -xf - -C "$stage"
  # numpy.show_config() prints the compiler command lines: the build machine's paths must not reach the guest.
  sed -i "s|$BUILD|/build|g; s|$ENGINE_DIR|/engine|g" "$stage/numpy/__config__.py"
  note "numpy's Python files: $(find "$stage/numpy" -type f | wc -l) files"
}
