#!/usr/bin/env bash
# Builds what the emulator test's v86 guests boot, all from Debian's packages, into DIR (default:
# tests/emulator/images, ignored by git):
#   bios.bin, vgabios.bin  SeaBIOS and its standard-VGA BIOS (seabios)
#   bzImage                the 32-bit kernel linux-image-686 depends on (linux-image-<abi>-686:i386)
#   initrd.gz              a BusyBox initramfs: busybox-static:i386, the NE2000 driver modules
#                          (8390, ne2k-pci) of that kernel, and init.sh as /init (initramfs.mjs)
# A DIR whose stamp matches this script and the files it builds from is kept as it is, without
# asking apt anything: a second run costs nothing. Otherwise it needs root, apt-get, dpkg-deb, xz
# and node; it adds the i386 architecture to dpkg when missing and updates the package lists when
# they do not name (or no longer serve) the packages. Prints what it did; exits non-zero, with the
# reason on its last line, when it cannot build.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/images}

stamp=$(cat "$here/images.sh" "$here/init.sh" "$here/initramfs.mjs" | sha256sum | cut -d' ' -f1)
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ]; then
  echo "images: cached in $out ($(tr '\n' ' ' <"$out/versions"))"
  exit 0
fi

die() { echo "images: $1" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "not root: cannot use apt-get to fetch the packages"
for tool in apt-get apt-cache dpkg dpkg-deb xz node; do
  command -v "$tool" >/dev/null || die "no $tool"
done

scratch=$(mktemp -d -t ifapi-images.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
log="$scratch/apt.log"
export DEBIAN_FRONTEND=noninteractive

if ! dpkg --print-foreign-architectures | grep -qx i386; then
  echo "images: adding the i386 architecture to dpkg"
  dpkg --add-architecture i386 || die "dpkg --add-architecture i386 failed"
fi

# apt-get update can fail for one index (a mirror mid-sync) while those needed here are fine, so
# its status decides nothing: whether the packages can be named afterwards does.
updated=0
update() {
  echo "images: apt-get update"
  apt-get update -qq >>"$log" 2>&1 || echo "images: apt-get update reported errors (see below if the build fails)"
  updated=1
}
kernel_package() {
  apt-cache depends linux-image-686:i386 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-686:i386\)$/\1/p' | head -n 1
}
kernel=$(kernel_package)
if [ -z "$kernel" ] || [ -z "$(apt-cache policy busybox-static:i386 | sed -n 's/^ *Candidate: //p' | grep -v none)" ]; then
  update
  kernel=$(kernel_package)
fi
[ -n "$kernel" ] || { tail -n 20 "$log" >&2; die "apt knows no linux-image-686:i386"; }
packages=(seabios busybox-static:i386 "$kernel")

mkdir -p "$scratch/debs"
# _apt must be able to write where apt-get download puts the files, or apt complains.
chown _apt "$scratch/debs" 2>/dev/null || true
download() { (cd "$scratch/debs" && apt-get download -qq "${packages[@]}") >>"$log" 2>&1; }
echo "images: downloading ${packages[*]}"
if ! download; then
  # Lists older than the mirror name versions it no longer serves.
  [ "$updated" = 1 ] || { update; kernel=$(kernel_package); packages=(seabios busybox-static:i386 "$kernel"); }
  download || { tail -n 20 "$log" >&2; die "apt-get download ${packages[*]} failed"; }
fi

root="$scratch/root"
for deb in "$scratch"/debs/*.deb; do
  dpkg-deb -x "$deb" "$root" || die "dpkg-deb -x $(basename "$deb") failed"
done

# Built next to DIR and renamed into place, so that a run interrupted half-way never leaves a stamp
# on a mix of old and new files.
mkdir -p "$(dirname "$out")" || die "cannot create $(dirname "$out")"
build=$(mktemp -d "$(dirname "$out")/.images.XXXXXX") || die "cannot write next to $out"
trap 'rm -rf "$scratch" "$build"' EXIT
cp "$root/usr/share/seabios/bios.bin" "$build/bios.bin" || die "seabios has no bios.bin"
# v86's VGA is the Bochs/QEMU standard VGA, which is what this BIOS drives.
cp "$root/usr/share/seabios/vgabios-stdvga.bin" "$build/vgabios.bin" || die "seabios has no vgabios-stdvga.bin"
vmlinuz=$(ls "$root"/boot/vmlinuz-* 2>/dev/null | head -n 1)
[ -n "$vmlinuz" ] || die "$kernel has no /boot/vmlinuz-*"
cp "$vmlinuz" "$build/bzImage"

# BusyBox's insmod loads plain ELF modules only: decompress them when the kernel package ships
# them compressed (xz or zstd, by CONFIG_MODULE_COMPRESS_*).
modules=()
for module in 8390 ne2k-pci; do
  found=$(find "$root/lib/modules" -path "*/drivers/net/ethernet/8390/$module.ko*" | head -n 1)
  [ -n "$found" ] || die "$kernel has no $module module"
  case "$found" in
    *.ko) cp "$found" "$scratch/$module.ko" ;;
    *.ko.xz) xz -dc "$found" >"$scratch/$module.ko" || die "cannot decompress $found" ;;
    *.ko.zst) { command -v zstd >/dev/null && zstd -qdc "$found" >"$scratch/$module.ko"; } || die "cannot decompress $found (zstd)" ;;
    *.ko.gz) gzip -dc "$found" >"$scratch/$module.ko" || die "cannot decompress $found" ;;
    *) die "$found: unknown module format" ;;
  esac
  modules+=("$scratch/$module.ko")
done
node "$here/initramfs.mjs" "$build/initrd.gz" "$root/bin/busybox" "$here/init.sh" "${modules[@]}" ||
  die "could not write the initramfs"

for deb in "$scratch"/debs/*.deb; do
  dpkg-deb -W --showformat='${Package}=${Version}\n' "$deb"
done >"$build/versions"
echo "$stamp" >"$build/stamp"

chmod 755 "$build"
rm -rf "$out"
mv "$build" "$out" || die "cannot move the images to $out"
echo "images: built in $out ($(tr '\n' ' ' <"$out/versions"))"
