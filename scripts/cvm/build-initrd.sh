#!/usr/bin/env bash
# Packs the aggregator into a gzip-compressed initramfs (cpio "newc") for measured direct boot:
#
#   /init                          scripts/cvm/init.c, compiled static (mounts, network, power-off)
#   /usr/bin/cairn-aggregator      the binary
#   /lib/..., /lib64/...           every shared library `ldd` resolves for it, at the same paths
#   /etc/cairn/federation.toml     the federation config (with --config)
#   /dev/console, empty /proc /sys /dev /tmp /run /var/lib/cairn
#
#   scripts/cvm/build-initrd.sh [--aggregator build/bin/cairn-aggregator] [--config federation.toml]
#                               [--out build/cvm/initrd.cpio.gz] [--add SRC:DEST]... [--cc cc]
#
# The archive is reproducible: entries sorted, owner root, mtime 0, gzip without name or time, so
# the same inputs give the same bytes and so the same launch measurement. The inputs are the
# binary, its libraries, the config and the compiler that builds /init: build in a pinned
# container image to reproduce a published measurement. Prints the archive's path and SHA-256.
# No cpio tool is needed (the newc format is written here) and nothing runs as root.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
aggregator=$root/build/bin/cairn-aggregator
config=""
out=$root/build/cvm/initrd.cpio.gz
cc=${CC:-cc}
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --aggregator) aggregator=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --add) extra+=("$2"); shift 2 ;;
    --cc) cc=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-initrd.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[ -x "$aggregator" ] || { echo "build-initrd.sh: $aggregator is not an executable (build it, or --aggregator)" >&2; exit 1; }
[ -z "$config" ] || [ -f "$config" ] || { echo "build-initrd.sh: $config not found" >&2; exit 1; }
command -v "$cc" >/dev/null || { echo "build-initrd.sh: no C compiler '$cc' for /init (--cc)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/tree"
tree=$stage/tree

# /init: static, so the initramfs needs no loader for it.
"$cc" -static -Os -s -Wall -Wextra -o "$tree/init" "$root/scripts/cvm/init.c"

install -D -m 0755 "$aggregator" "$tree/usr/bin/cairn-aggregator"

# Shared libraries: ldd prints the whole closure, "name => /path (addr)" or "/path (addr)".
ldd "$aggregator" > "$stage/ldd.txt" || { echo "build-initrd.sh: ldd failed on $aggregator" >&2; exit 1; }
if grep -q "not found" "$stage/ldd.txt"; then
  echo "build-initrd.sh: unresolved libraries:" >&2
  grep "not found" "$stage/ldd.txt" >&2
  exit 1
fi
awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' "$stage/ldd.txt" | sort -u > "$stage/libs.txt"
while read -r lib; do
  install -D -m 0755 "$(readlink -f "$lib")" "$tree$lib"
done < "$stage/libs.txt"

if [ -n "$config" ]; then
  install -D -m 0644 "$config" "$tree/etc/cairn/federation.toml"
fi
for pair in "${extra[@]+"${extra[@]}"}"; do
  src=${pair%%:*}
  dest=${pair#*:}
  case "$dest" in /*) ;; *) echo "build-initrd.sh: --add $pair: DEST must be absolute" >&2; exit 2 ;; esac
  install -D -m 0644 "$src" "$tree$dest"
done
for d in proc sys dev tmp run var/lib/cairn etc/cairn; do mkdir -p "$tree/$d"; done

# --- cpio newc writer --------------------------------------------------------------------------
# Header: "070701" then 13 fields of 8 hex digits (ino mode uid gid nlink mtime filesize devmajor
# devminor rdevmajor rdevminor namesize check), the name with its NUL, padding to 4 bytes, the
# data, padding to 4 bytes.
archive=$stage/initrd.cpio
: > "$archive"
offset=0
ino=0
pad() {  # pad the archive to a multiple of 4
  local n=$(( (4 - offset % 4) % 4 ))
  if [ "$n" -gt 0 ]; then head -c "$n" /dev/zero >> "$archive"; offset=$((offset + n)); fi
}
entry() {  # entry NAME MODE SIZE RDEVMAJOR RDEVMINOR [FILE]
  local name=$1 mode=$2 size=$3 rmaj=$4 rmin=$5 file=${6:-}
  local namesize=$(( ${#name} + 1 ))
  local nlink=1
  [ $(( mode & 0170000 )) -eq $(( 0040000 )) ] && nlink=2
  ino=$((ino + 1))
  printf '070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x' \
    "$ino" "$mode" 0 0 "$nlink" 0 "$size" 0 0 "$rmaj" "$rmin" "$namesize" 0 >> "$archive"
  printf '%s\0' "$name" >> "$archive"
  offset=$((offset + 110 + namesize))
  pad
  if [ -n "$file" ]; then
    cat "$file" >> "$archive"
    offset=$((offset + size))
    pad
  fi
}

( cd "$tree" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort ) > "$stage/entries.txt"
while read -r name; do
  path=$tree/$name
  if [ -d "$path" ]; then
    entry "$name" $(( 0040000 | 0755 )) 0 0 0
  elif [ -f "$path" ]; then
    perm=0644
    [ -x "$path" ] && perm=0755
    entry "$name" $(( 0100000 | perm )) "$(stat -c %s "$path")" 0 0 "$path"
  else
    echo "build-initrd.sh: unexpected file type: $name" >&2
    exit 1
  fi
done < "$stage/entries.txt"
# The console, for init's output before devtmpfs is mounted: character device 5:1. (Sorted
# order puts every folder before its contents; this entry comes after "dev".)
entry "dev/console" $(( 0020000 | 0600 )) 0 5 1
entry "TRAILER!!!" 0 0 0 0

mkdir -p "$(dirname "$out")"
gzip -n -9 -c "$archive" > "$out"
echo "$out"
sha256sum "$out" | awk '{ print "sha256 " $1 }'
