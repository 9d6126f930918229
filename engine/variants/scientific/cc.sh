#!/bin/sh
# The compiler meson runs for numpy (engine/variants/scientific/variant.sh).
# Compiles with the engine's clang; a shared link (an extension module) is not
# done: WASI has no shared libraries. Instead the output file lists the
# module's objects and archives, one absolute path a line, which variant.sh
# links into python.wasm.
for arg in "$@"; do
  if [ "$arg" = "-shared" ]; then
    out="" next_is_out=""
    for a in "$@"; do
      if [ -n "$next_is_out" ]; then out=$a; next_is_out=""; continue; fi
      [ "$a" = "-o" ] && next_is_out=1
    done
    [ -n "$out" ] || { echo "cc.sh: shared link without -o" >&2; exit 1; }
    : > "$out"
    for a in "$@"; do
      case "$a" in
        /*.o|/*.a) printf '%s\n' "$a" >> "$out" ;;
        *.o|*.a) printf '%s/%s\n' "$PWD" "$a" >> "$out" ;;
      esac
    done
    exit 0
  fi
done
exec @CLANG@ "$@"
