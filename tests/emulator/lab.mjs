// Two v86 guests on one IfApi segment, and nothing else joining them: each guest's ne2k is relayed
// to the service as a tap (SPEC §9), the bridge switches between them, and the guests ping each
// other over it. Then one guest's WebSocket is closed under it, and it must be back on the segment
// once v86 has reconnected by itself: pinging again, the bridge's members again exactly two taps,
// the old tap destroyed.
//
//   node lab.mjs BASE_URL --images DIR --out DIR [--key KEY]
//
// --images: what images.sh built; --out: where the guests' serial logs go; --key: an API key with
// the read, write and tap scopes. Prints one line per check ("emulator: PASS …" / "emulator: FAIL
// …"), stops at the first failure (each check builds on the ones before) and exits non-zero then.
import { fork } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const usage = "usage: node lab.mjs BASE_URL --images DIR --out DIR [--key KEY]";
const opts = { images: "", out: "", key: "" };
let base = "";
for (let i = 2; i < process.argv.length; i++) {
  const arg = process.argv[i];
  if (["--images", "--out", "--key"].includes(arg) && i + 1 < process.argv.length) {
    opts[arg.slice(2)] = process.argv[++i];
  } else if (!base && !arg.startsWith("--")) {
    base = arg.replace(/\/+$/, "");
  } else {
    fatal(`unexpected argument ${arg}; ${usage}`);
  }
}
if (!base || !opts.images || !opts.out) fatal(usage);

// Every wait is bounded. A boot takes 15-50 s on two cores (both guests boot at once). v86 opens a
// new socket as soon as its socket closes if its last attempt is 10 s old, else with the guest's
// next frame once it is, or 10 s after the close at the latest.
const BOOT_TIMEOUT = 150_000;
const JOIN_TIMEOUT = 30_000;
const COMMAND_TIMEOUT = 30_000;
const RECONNECT_TIMEOUT = 35_000;
const SETTLE_TIMEOUT = 15_000;

const BRIDGE = "bridge0";
const guests = [
  { label: "A", addr: "198.18.0.1", prefix: 24 },
  { label: "B", addr: "198.18.0.2", prefix: 24 },
];
// The whole run, whatever the waits add up to; it takes about a minute.
const RUN_TIMEOUT = 240_000;
const started = Date.now();
const seconds = (since = started) => ((Date.now() - since) / 1000).toFixed(1);

function fatal(message) {
  console.log(`emulator: FAIL ${message}`);
  process.exit(1);
}

function pass(what) {
  console.log(`emulator: PASS ${what}`);
}

class Failure extends Error {}
const fail = (message) => { throw new Failure(message); };

// ---- the service ----------------------------------------------------------------------------

async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(base + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON: the text says why */ }
  return { status: response.status, json, text };
}

async function expectStatus(method, path, body, ...statuses) {
  const answer = await api(method, path, body);
  if (!statuses.includes(answer.status)) {
    fail(`${method} ${path} answered ${answer.status}, not ${statuses.join(" or ")}: ${answer.text.slice(0, 300)}`);
  }
  return answer.json;
}

async function waitReady() {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2_000) })).ok) return;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) fail(`the service at ${base} was not ready within 60 s`);
    await sleep(250);
  }
}

const members = async () => (await expectStatus("GET", `/v1/interfaces/${BRIDGE}/members`, undefined, 200)).members;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls until check() returns a value (not undefined), or fails with what last() says.
async function until(what, timeout, check, last) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) fail(`${what} within ${timeout / 1000} s: ${await last()}`);
    await sleep(200);
  }
}

// ---- the guests -----------------------------------------------------------------------------

function relayUrl() {
  const ws = base.replace(/^http/, "ws");
  const token = opts.key ? `&access_token=${encodeURIComponent(opts.key)}` : "";
  return `${ws}/v1/tap?bridge=${BRIDGE}${token}`;
}

function boot(guest) {
  guest.output = "";           // everything the serial console said, for waits to search
  guest.sockets = new Map();   // number -> {open, name, closed, code, refused}
  guest.waiters = new Set();
  guest.log = join(opts.out, `guest-${guest.label}.log`);
  const config = {
    name: guest.label,
    images: opts.images,
    relayUrl: guest.relayUrl,
    log: guest.log,
    // The console on the serial port the test drives; ifapi.addr is for init.sh. The rest saves
    // boot time that costs much under emulation: the crypto self-tests, probing ISA ports for
    // PnP cards and the PnP BIOS (v86 has neither), TSC checks, mitigations.
    cmdline: `console=ttyS0 ifapi.addr=${guest.addr}/${guest.prefix} cryptomgr.notests noisapnp pnpbios=off tsc=reliable mitigations=off`,
  };
  guest.process = fork(fileURLToPath(new URL("guest.mjs", import.meta.url)), [JSON.stringify(config)],
    { stdio: ["ignore", "ignore", "pipe", "ipc"] });
  guest.stderr = "";
  guest.process.stderr.on("data", (chunk) => { guest.stderr = (guest.stderr + chunk).slice(-4000); });
  guest.process.on("exit", (code, signal) => { guest.exited = signal ?? code; notify(guest); });
  guest.process.on("message", (message) => {
    if (message.type === "serial") {
      guest.output += message.text;
    } else if (message.type === "socket") {
      const socket = guest.sockets.get(message.number) ?? {};
      guest.sockets.set(message.number, socket);
      socket.at ??= {};
      socket.at[message.event] ??= Date.now(); // when each step of its life happened
      if (message.event === "open") socket.open = true;
      if (message.event === "name") socket.name = message.name;
      if (message.event === "refused") socket.refused = message.status;
      if (message.event === "close") Object.assign(socket, { closed: true, code: message.code });
    }
    notify(guest);
  });
}

function notify(guest) {
  for (const waiter of guest.waiters) waiter();
}

// Waits until check() returns a value for this guest, or fails after timeout with why().
function waitFor(guest, what, timeout, check) {
  return new Promise((resolve, reject) => {
    const done = (settle) => { clearTimeout(timer); guest.waiters.delete(look); settle(); };
    const look = () => {
      let value;
      try {
        value = check();
      } catch (error) {
        return done(() => reject(error));
      }
      if (value !== undefined) return done(() => resolve(value));
      if (guest.exited !== undefined) {
        done(() => reject(new Failure(`guest ${guest.label}'s process ended (${guest.exited}) while waiting for ${what}${guest.stderr ? `: ${guest.stderr.trim().split("\n").slice(-3).join(" | ")}` : ""}`)));
      }
    };
    const timer = setTimeout(() => done(() => reject(new Failure(`guest ${guest.label}: no ${what} within ${timeout / 1000} s (log: ${guest.log})`))), timeout);
    guest.waiters.add(look);
    look();
  });
}

let commands = 0;
// Types a command line on the guest's console and waits for its exit status; returns its output.
async function run(guest, command, timeout = COMMAND_TIMEOUT) {
  const mark = `@@${++commands}`;
  const from = guest.output.length;
  // The console echoes what is typed: "$?" stays unexpanded there, so only the real end matches.
  guest.process.send({ type: "serial", text: `${command}; echo "${mark} $?"\n` });
  const pattern = new RegExp(`^${mark} (\\d+)\\r?$`, "m");
  return waitFor(guest, `end of \`${command}\``, timeout, () => {
    const match = pattern.exec(guest.output.slice(from));
    if (!match) return undefined;
    const output = guest.output.slice(from, from + match.index);
    return { status: Number(match[1]), output };
  });
}

const latest = (guest) => [...guest.sockets.entries()].at(-1);

async function ping(from, to, size, what) {
  const count = 3;
  const answer = await run(from, `ping -c ${count} -w 15 -W 5 -s ${size} ${to.addr}`);
  const received = Number(/(\d+) packets received/.exec(answer.output)?.[1] ?? 0);
  const bytes = size + 8; // the ICMP header: 64 + 8 = 72, 1472 + 8 = 1480 bytes from …
  const replies = answer.output.split("\n").filter((line) => line.startsWith(`${bytes} bytes from ${to.addr}`)).length;
  if (answer.status !== 0 || received !== count || replies !== count) {
    fail(`${what}: ping -s ${size} ${from.addr} → ${to.addr} got ${received}/${count} replies (exit ${answer.status}):\n    ${answer.output.trim().split("\n").join("\n    ")}`);
  }
  const times = answer.output.match(/time=[\d.]+ ms/g)?.join(", ") ?? "";
  pass(`${what}: ${from.label} (${from.addr}) → ${to.label} (${to.addr}), ${size + 8}-byte echoes in ${size + 28}-byte IP packets: ${received}/${count} replies (${times})`);
}

// The IP counters of /proc/net/snmp as {ReasmReqds, FragCreates, …}.
async function ipCounters(guest) {
  const answer = await run(guest, "grep '^Ip:' /proc/net/snmp");
  const lines = answer.output.split("\n").filter((line) => line.startsWith("Ip:"));
  if (lines.length < 2) fail(`guest ${guest.label}: no Ip: counters in /proc/net/snmp: ${answer.output}`);
  const names = lines[0].trim().split(/\s+/).slice(1);
  const values = lines[1].trim().split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((name, i) => [name, values[i]]));
}

// A guest's tap as the service has it: it must be up with the guests' MTU.
async function tapOf(guest) {
  const tap = await expectStatus("GET", `/v1/interfaces/${guest.tap}`, undefined, 200);
  if (!tap.up || tap.mtu !== 1500) {
    fail(`guest ${guest.label}'s ${guest.tap} is ${tap.up ? "up" : "down"} with mtu ${tap.mtu}, not up with mtu 1500`);
  }
  return tap.id;
}

// ---- the checks -----------------------------------------------------------------------------

async function main() {
  await waitReady();

  // The segment: one bridge, up, and nothing else. The guests' taps join it themselves.
  await expectStatus("POST", "/v1/interfaces", { cloner: "bridge", name: BRIDGE, up: true }, 201);
  for (const guest of guests) guest.relayUrl = relayUrl();
  pass(`${BRIDGE} created and up; relay ${guests[0].relayUrl.replace(/access_token=[^&]*/, "access_token=…")}`);

  for (const guest of guests) boot(guest);
  await Promise.all(guests.map(async (guest) => {
    const line = await waitFor(guest, "\"ifapi-guest: ready\" on its console", BOOT_TIMEOUT,
      () => /^ifapi-guest: (ready.*|no network.*)$/m.exec(guest.output)?.[0]);
    if (!line.startsWith("ifapi-guest: ready")) fail(`guest ${guest.label}: ${line}`);
    guest.booted = seconds();
    await run(guest, "true"); // the shell is there and answers
  }));
  pass(`both guests booted: A in ${guests[0].booted} s, B in ${guests[1].booted} s, eth0 up (198.18.0.1/24, 198.18.0.2/24, mtu 1500)`);

  // v86 opens its relay with the first frame the guest sends (eth0 coming up sends some).
  await Promise.all(guests.map(async (guest) => {
    guest.tap = await waitFor(guest, "tap from the service (its first text message)", JOIN_TIMEOUT, () => {
      const [, socket] = latest(guest) ?? [];
      if (socket?.refused) fail(`guest ${guest.label}: the service refused the WebSocket: HTTP ${socket.refused}`);
      return socket?.name ?? undefined;
    });
    guest.tapId = await tapOf(guest);
  }));
  const joined = await members();
  const expected = guests.map((guest) => guest.tap).sort();
  if (JSON.stringify([...joined].sort()) !== JSON.stringify(expected)) {
    fail(`${BRIDGE}'s members are ${JSON.stringify(joined)}, not the guests' taps ${JSON.stringify(expected)}`);
  }
  pass(`each guest's WebSocket is a tap in ${BRIDGE}, up, mtu 1500: A is ${guests[0].tap}, B is ${guests[1].tap}; members ${JSON.stringify(joined)}`);

  const [a, b] = guests;
  const before = await Promise.all(guests.map(ipCounters));
  await ping(a, b, 56, "ping");
  await ping(b, a, 56, "ping");
  await ping(a, b, 1472, "full-size ping");
  await ping(b, a, 1472, "full-size ping");
  const after = await Promise.all(guests.map(ipCounters));
  for (const [i, guest] of guests.entries()) {
    for (const counter of ["FragCreates", "ReasmReqds", "FragFails"]) {
      if (after[i][counter] !== before[i][counter]) {
        fail(`guest ${guest.label}: ${counter} went from ${before[i][counter]} to ${after[i][counter]}: the 1500-byte packets were fragmented`);
      }
    }
  }
  pass("the 1500-byte packets crossed whole: no fragment sent or reassembled on either guest");

  // Close A's socket under v86: it reconnects to the same URL by itself and must be back.
  const [number] = latest(a);
  const old = { name: a.tap, id: a.tapId };
  const closedAt = Date.now();
  a.process.send({ type: "close-socket" });
  // The close handshake: the service answers the client's close frame (ws waits up to 30 s for it).
  await waitFor(a, "end of its WebSocket's close handshake", 35_000, () => (a.sockets.get(number).closed ? true : undefined));
  const handshake = seconds(closedAt);
  const reopenedFrom = Date.now();
  const reconnected = await waitFor(a, "new WebSocket from v86 (it retries every 10 s)", RECONNECT_TIMEOUT, () => {
    const [latestNumber, socket] = latest(a);
    if (latestNumber === number) return undefined;
    if (socket.refused) fail(`guest A: the service refused the reconnect: HTTP ${socket.refused}`);
    return socket.name ?? undefined;
  });
  a.tap = reconnected;
  const [, fresh] = latest(a);
  const gap = (from, to) => ((to - from) / 1000).toFixed(1);
  pass(`A's WebSocket closed by the test (close handshake ${handshake} s); v86 reconnected and got ${a.tap} ${seconds(reopenedFrom)} s later (its new socket ${gap(reopenedFrom, fresh.at.connecting)} s after the close, upgraded ${gap(fresh.at.connecting, fresh.at.open)} s and named ${gap(fresh.at.connecting, fresh.at.name)} s after that)`);

  // The old tap leaves the bridge and is destroyed when its socket closes; the new one joined.
  let now = [];
  const want = [a.tap, b.tap].sort();
  await until(`${BRIDGE}'s members are exactly ${JSON.stringify(want)} again`, SETTLE_TIMEOUT, async () => {
    now = await members();
    return JSON.stringify([...now].sort()) === JSON.stringify(want) ? true : undefined;
  }, () => `they are ${JSON.stringify(now)}`);
  await until(`the old tap ${old.name} (id ${old.id}) destroyed`, SETTLE_TIMEOUT, async () => {
    const answer = await api("GET", `/v1/interfaces/${old.id}`);
    return answer.status === 404 ? true : undefined;
  }, async () => `GET /v1/interfaces/${old.id} still answers ${(await api("GET", `/v1/interfaces/${old.id}`)).status}`);
  a.tapId = await tapOf(a);
  if (a.tapId === old.id) fail(`A's new tap ${a.tap} has the old tap's id ${old.id}`);
  pass(`${BRIDGE}'s members are exactly two taps again, ${JSON.stringify(now)}; the old ${old.name} (id ${old.id}) is destroyed, the new ${a.tap} is id ${a.tapId}`);

  await ping(a, b, 56, "ping after the reconnect");
  await ping(b, a, 1472, "full-size ping after the reconnect");
}

const watchdog = setTimeout(() => {
  console.log(`emulator: FAIL the run did not end within ${RUN_TIMEOUT / 1000} s; guests' serial logs: ${guests.map((guest) => guest.log).filter(Boolean).join(", ")}`);
  for (const guest of guests) guest.process?.kill("SIGKILL");
  process.exit(1);
}, RUN_TIMEOUT);

let failed = false;
try {
  await main();
} catch (error) {
  failed = true;
  console.log(`emulator: FAIL ${error instanceof Failure ? error.message : error?.stack ?? error}`);
}
for (const guest of guests) {
  if (guest.process && guest.exited === undefined) {
    guest.process.send({ type: "stop" });
    const killer = setTimeout(() => guest.process.kill("SIGKILL"), 5_000);
    await new Promise((resolve) => guest.process.once("exit", resolve));
    clearTimeout(killer);
  }
}
clearTimeout(watchdog);
console.log(`    ${seconds()} s${failed ? `; guests' serial logs: ${guests.map((guest) => guest.log).filter(Boolean).join(", ")}` : ""}`);
process.exit(failed ? 1 : 0);
