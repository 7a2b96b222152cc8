// One v86 guest, in a process of its own so that two guests boot on two cores. lab.mjs forks it
// with a JSON description ({name, images, cmdline, relayUrl, log}) as its argument and talks to
// it over the IPC channel:
//   from lab.mjs:  {type: "serial", text}   typed on the guest's serial console
//                  {type: "close-socket"}   closes the guest's current WebSocket (v86 reconnects)
//                  {type: "stop"}
//   to lab.mjs:    {type: "serial", text}   what the guest wrote on its serial console
//                  {type: "socket", event: "connecting"|"open"|"name"|"refused"|"close", number, …}
//                                           its WebSockets' lives, numbered from 1
// Everything the guest writes also goes to its log file, which a failed run keeps.
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { V86 } from "v86";
import WebSocketClient from "ws";

const config = JSON.parse(process.argv[2]);
const require = createRequire(import.meta.url);
const wasmPath = join(dirname(require.resolve("v86")), "v86.wasm");

writeFileSync(config.log, "");
const booted = Date.now();
// Lines of its own (the socket's, the test's) carry the seconds since the guest started.
const log = (text) => appendFileSync(config.log, text.replace(/^\n\[(ws \d+|test)\]/, (_, who) => `\n[${who} ${((Date.now() - booted) / 1000).toFixed(3)}]`));
const tell = (message) => { if (process.connected) process.send(message); };

// v86 opens its relay with the global WebSocket (Node 20 has none), so it gets ws's, wrapped to
// keep hold of each socket: the test closes one to see v86 reconnect and rejoin its segment.
let current = null;
let opened = 0;
class TrackedWebSocket extends WebSocketClient {
  constructor(url, protocols) {
    super(url, protocols);
    const number = ++opened;
    current = this;
    log(`\n[ws ${number}] connecting\n`);
    tell({ type: "socket", event: "connecting", number });
    this.on("open", () => {
      log(`\n[ws ${number}] open ${config.relayUrl.replace(/access_token=[^&]*/, "access_token=…")}\n`);
      tell({ type: "socket", event: "open", number });
    });
    // The service's first message is text, {"name":"tapN"}: the tap this socket is.
    this.on("message", (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      log(`\n[ws ${number}] text ${text}\n`);
      let name = null;
      try { name = JSON.parse(text).name ?? null; } catch { /* reported as it is */ }
      tell({ type: "socket", event: "name", number, name, text });
    });
    this.on("close", (code, reason) => {
      log(`\n[ws ${number}] close ${code} ${reason}\n`);
      tell({ type: "socket", event: "close", number, code, reason: reason.toString() });
    });
    // A refused upgrade is an error, then a close, as in a browser (so v86 retries as it would
    // there): an "unexpected-response" listener would stop ws from closing the socket by itself.
    this.on("error", (error) => {
      log(`\n[ws ${number}] error ${error.message}\n`);
      const refused = /Unexpected server response: (\d+)/.exec(error.message);
      if (refused) tell({ type: "socket", event: "refused", number, status: Number(refused[1]) });
    });
  }
}
globalThis.WebSocket = TrackedWebSocket;

const image = (file) => ({ buffer: new Uint8Array(readFileSync(join(config.images, file))).buffer });
const emulator = new V86({
  wasm_path: wasmPath,
  bios: image("bios.bin"),
  vga_bios: image("vgabios.bin"),
  bzimage: image("bzImage"),
  initrd: image("initrd.gz"),
  cmdline: config.cmdline,
  memory_size: 128 * 1024 * 1024,
  vga_memory_size: 2 * 1024 * 1024,
  net_device: { type: "ne2k", relay_url: config.relayUrl },
  disable_keyboard: true,
  disable_mouse: true,
  disable_speaker: true,
  autostart: true,
});

// Serial output byte by byte, passed on a line (or a prompt) at a time.
let pending = "";
emulator.add_listener("serial0-output-byte", (byte) => {
  const char = String.fromCharCode(byte);
  pending += char;
  if (char === "\n" || pending.endsWith("# ")) {
    log(pending);
    tell({ type: "serial", text: pending });
    pending = "";
  }
});

process.on("message", async (message) => {
  if (message.type === "serial") {
    emulator.serial0_send(message.text);
  } else if (message.type === "close-socket") {
    log(`\n[test] closing the WebSocket\n`);
    if (current) current.close(1000, "test");
  } else if (message.type === "stop") {
    await emulator.destroy().catch(() => {});
    process.exit(0);
  }
});
process.on("disconnect", () => process.exit(0));
