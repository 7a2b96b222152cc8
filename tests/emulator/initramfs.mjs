// Writes the guests' initramfs: a gzipped "newc" cpio archive (the format the kernel unpacks,
// Documentation/driver-api/early-userspace/buffer-format.rst) holding a static BusyBox, the
// NE2000 driver modules and init.sh as /init. Written here rather than with cpio(1) so that the
// build needs nothing but Node.js, and so that /dev/console can be a device node without root:
// the kernel opens it for init's stdin and stdout before anything can mount devtmpfs.
//
//   node initramfs.mjs OUT.gz BUSYBOX INIT MODULE.ko...
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { gzipSync } from "node:zlib";

const [out, busybox, init, ...modules] = process.argv.slice(2);
if (!out || !busybox || !init || modules.length === 0) {
  console.error("usage: node initramfs.mjs OUT.gz BUSYBOX INIT MODULE.ko...");
  process.exit(2);
}

const S_IFDIR = 0o040000, S_IFREG = 0o100000, S_IFLNK = 0o120000, S_IFCHR = 0o020000;
const chunks = [];
let ino = 1;

const pad4 = (length) => Buffer.alloc((4 - (length % 4)) % 4);
const hex8 = (n) => n.toString(16).padStart(8, "0");

function entry(name, mode, data = Buffer.alloc(0), rdev = [0, 0]) {
  const nameBytes = Buffer.from(name + "\0");
  // All files are root's and dated 0: the same inputs give the same archive, byte for byte.
  const header = "070701" + [ino++, mode, 0, 0, mode & S_IFDIR ? 2 : 1, 0, data.length, 0, 0,
    rdev[0], rdev[1], nameBytes.length, 0].map(hex8).join("");
  chunks.push(Buffer.from(header), nameBytes, pad4(110 + nameBytes.length), data, pad4(data.length));
}

for (const dir of ["bin", "dev", "lib", "lib/modules", "proc", "sys", "tmp", "root", "sbin",
  "usr", "usr/bin", "usr/sbin"]) {
  entry(dir, S_IFDIR | 0o755);
}
entry("dev/console", S_IFCHR | 0o600, undefined, [5, 1]);
entry("bin/busybox", S_IFREG | 0o755, readFileSync(busybox));
entry("bin/sh", S_IFLNK | 0o777, Buffer.from("busybox"));
entry("init", S_IFREG | 0o755, readFileSync(init));
for (const module of modules) {
  entry(`lib/modules/${basename(module)}`, S_IFREG | 0o644, readFileSync(module));
}
entry("TRAILER!!!", 0);

writeFileSync(out, gzipSync(Buffer.concat(chunks), { level: 9 }));
