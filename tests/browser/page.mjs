// The lab page at / as a person uses it: headless Chromium opens it without a key and then with
// one given once (/?access_token=…), and the test changes the vnet through the API and watches the
// picture follow: a bridge and its two members appear, their tap devices open, counters move while
// frames pass between them, a member leaves (within a second of the call), an epair's cable, a vnet
// picked. Every request the page makes must go to the service itself.
//
//   node page.mjs BASE_URL --key KEY [--out DIR]
//
// --key: a key with the scopes read, write, admin and tap (admin creates a vnet, tap opens devices).
// --out: where the screenshots go (lab.png, lab-dark.png; lab-failure.png and the page's console
//        when a check fails). Default: the cwd.
// Prints one line per check ("browser: PASS …" / "browser: FAIL …") and exits non-zero on any failure.
import { mkdirSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { join } from "node:path";
import WebSocket from "ws";
import { checks, executablePath, fatal, launch, waitReady } from "./harness.mjs";

const usage = "usage: node page.mjs BASE_URL --key KEY [--out DIR]";
const opts = { out: process.cwd(), key: "" };
let base = "";
for (let i = 2; i < process.argv.length; i++) {
    const a = process.argv[i];
    if (a === "--out" || a === "--key") {
        if (i + 1 >= process.argv.length) fatal(`${a} needs a value; ${usage}`);
        opts[a.slice(2)] = process.argv[++i];
    } else if (!base && !a.startsWith("--")) {
        base = a.replace(/\/+$/, "");
    } else {
        fatal(`unexpected argument ${a}; ${usage}`);
    }
}
if (!base || !opts.key) fatal(usage);
mkdirSync(opts.out, { recursive: true });

const timeout = 10_000;          // per step: the page follows a change in well under a second here
const leaveWithinMs = 1_000;     // SPEC §9 (the issue): a member leaving shows within a second
const log = [];                  // the page's console, failed requests and errors, for a failure
const foreign = [];              // requests the page made anywhere but the service
const sockets = [];
let browser;
let page;

const { check } = checks({ out: opts.out, name: "lab", log, state: () => ({ page, browser }), cleanup: () => { for (const s of sockets) s.terminate(); } });

/** A call to the API with the key; the answer's JSON, or an error with its problem. */
async function api(method, path, body) {
    const headers = { authorization: `Bearer ${opts.key}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const r = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path} answered ${r.status}: ${text.slice(0, 500)}`);
    return text ? JSON.parse(text) : null;
}

/** Opens a tap's device (/dev/tapN) as the service offers it: a WebSocket, one binary message per frame. */
function openDevice(name) {
    return new Promise((resolve, reject) => {
        const url = `${base.replace(/^http/, "ws")}/v1/interfaces/${name}/tap`;
        const ws = new WebSocket(url, { headers: { authorization: `Bearer ${opts.key}` } });
        ws.received = 0;
        ws.on("message", (data, binary) => {
            if (binary) ws.received++;
        });
        ws.once("open", () => {
            sockets.push(ws);
            resolve(ws);
        });
        ws.once("unexpected-response", (_, r) => reject(new Error(`opening ${name}'s device answered ${r.statusCode}`)));
        ws.once("error", reject);
    });
}

function closeDevice(ws) {
    return new Promise((resolve) => {
        ws.once("close", resolve);
        ws.close(1000);
    });
}

/** A broadcast Ethernet frame of 60 bytes from `source` (a MAC address), of a local experimental type. */
function broadcast(source, n) {
    const frame = Buffer.alloc(60);
    frame.fill(0xff, 0, 6);
    Buffer.from(source.split(":").map((h) => parseInt(h, 16))).copy(frame, 6);
    frame.writeUInt16BE(0x88b5, 12);
    frame.writeUInt32BE(n, 14);
    return frame;
}

const node = (name) => page.locator(`#picture g.node[data-name="${name}"]`);
const row = (name) => page.locator(`#facts tbody tr[data-name="${name}"]`);
const cell = (name, column) => row(name).locator(`:nth-child(${column})`);
const PACKETS_IN = 6;
const PACKETS_OUT = 7;

let relayed = null; // the origin of the relay below, once there is one: the page's own service too

/**
 * A TCP relay to the service on a loopback port of its own, whose connections the test can cut: what a
 * broken network or a restarting proxy does to a page's event stream.
 */
function relay() {
    const target = new URL(base);
    const open = new Set();
    const server = createServer((client) => {
        const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
        const pair = [client, upstream];
        open.add(pair);
        client.pipe(upstream).pipe(client);
        const end = () => { open.delete(pair); client.destroy(); upstream.destroy(); };
        client.on("error", end).on("close", end);
        upstream.on("error", end).on("close", end);
    });
    return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        cut: () => { for (const [c, u] of open) { c.destroy(); u.destroy(); } },
        close: () => server.close(),
    })));
}

async function newPage(colorScheme = "light") {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme });
    context.setDefaultTimeout(timeout);
    const p = await context.newPage();
    p.on("console", (m) => log.push(`console.${m.type()}: ${m.text()}`));
    p.on("pageerror", (e) => log.push(`page error: ${e.message}`));
    p.on("requestfailed", (r) => log.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ""}`));
    p.on("request", (r) => {
        const url = new URL(r.url());
        if (url.origin !== base && url.origin !== relayed && !["data:", "about:"].includes(url.protocol)) foreign.push(r.url());
    });
    return p;
}

await check(`the service at ${base} is ready`, () => waitReady(base), { step: true });
await check(`Chromium starts (${executablePath})`, async () => {
    browser = await launch();
}, { step: true });

await check("without a key, / loads and says that a key is needed (401 ENEEDAUTH)", async () => {
    page = await newPage();
    const r = await page.goto(`${base}/`, { waitUntil: "load" });
    if (r?.status() !== 200) throw new Error(`/ answered ${r?.status()}`);
    const alert = page.getByRole("alert");
    await alert.waitFor();
    const text = (await alert.innerText()).trim();
    if (!/401 ENEEDAUTH/.test(text) || !/key/i.test(text)) throw new Error(`the alert reads: ${text}`);
    await page.context().close();
    return text.split("\n")[0];
});

await check("a wrong key is said to be unknown (401 EAUTH)", async () => {
    page = await newPage();
    await page.goto(`${base}/?access_token=not-a-key-of-this-service`, { waitUntil: "load" });
    const alert = page.getByRole("alert");
    await alert.waitFor();
    const text = (await alert.innerText()).trim();
    if (!/401 EAUTH/.test(text)) throw new Error(`the alert reads: ${text}`);
    await page.context().close();
});

await check("with /?access_token=KEY the page goes live and takes the key out of its address", async () => {
    page = await newPage();
    await page.goto(`${base}/?access_token=${encodeURIComponent(opts.key)}`, { waitUntil: "load" });
    await page.waitForSelector("body[data-state=live]");
    const address = page.url();
    if (address.includes("access_token")) throw new Error(`the address still holds the key: ${address}`);
    const picked = await page.getByLabel("Vnet", { exact: true }).inputValue();
    if (picked !== "host") throw new Error(`the vnet picker shows ${picked}, not host`);
    await node("lo0").waitFor();
});

let bridge;
let tapA;
let tapB;
await check("a bridge and its two members created through the API are drawn, the members around it", async () => {
    bridge = await api("POST", "/v1/interfaces", { cloner: "bridge", up: true });
    tapA = await api("POST", "/v1/interfaces", { cloner: "tap", up: true });
    tapB = await api("POST", "/v1/interfaces", { cloner: "tap", up: true });
    await api("PUT", `/v1/interfaces/${bridge.name}/members/${tapA.name}`);
    await api("PUT", `/v1/interfaces/${bridge.name}/members/${tapB.name}`);
    const group = page.getByRole("group", { name: `Bridge ${bridge.name} with 2 members: ${tapA.name}, ${tapB.name}` });
    await group.waitFor();
    for (const name of [bridge.name, tapA.name, tapB.name]) {
        const img = group.getByRole("img", { name: new RegExp(`^${name}: `) });
        if (await img.count() !== 1) throw new Error(`${name} is not drawn in ${bridge.name}'s segment`);
    }
    if (await group.locator("line.spoke").count() !== 2) throw new Error("the bridge has not two spokes");
    await row(tapA.name).getByText(`member of ${bridge.name}`).waitFor();
    return `${bridge.name}: ${tapA.name}, ${tapB.name}`;
});

let deviceA;
let deviceB;
await check("opening the taps' devices shows them open", async () => {
    deviceA = await openDevice(tapA.name);
    deviceB = await openDevice(tapB.name);
    for (const name of [tapA.name, tapB.name]) {
        await page.getByRole("img", { name: new RegExp(`^${name}: tap, up, device open`) }).waitFor();
        await cell(name, 4).getByText("open", { exact: true }).waitFor();
    }
});

await check("counters move while frames pass through the bridge", async () => {
    const counter = async (name, column) => Number((await cell(name, column).innerText()).replace(/\D/g, ""));
    const startIn = await counter(tapA.name, PACKETS_IN);
    const startOut = await counter(tapB.name, PACKETS_OUT);
    let sent = 0;
    const sender = setInterval(() => deviceA.send(broadcast(tapA.lladdr, sent++)), 20);
    try {
        // Twice, a poll apart: they go on moving, not only once.
        const seen = [];
        for (const round of [1, 2]) {
            const before = seen.at(-1)?.[0] ?? startIn;
            await page.waitForFunction(([selector, before]) => {
                const text = document.querySelector(selector)?.textContent ?? "";
                return Number(text.replace(/\D/g, "")) > before;
            }, [`#facts tbody tr[data-name="${tapA.name}"] > :nth-child(${PACKETS_IN})`, before], { timeout: 5_000 });
            seen.push([await counter(tapA.name, PACKETS_IN), await counter(tapB.name, PACKETS_OUT)]);
            if (round === 1) await page.locator(`#picture g.node.moving[data-name="${tapA.name}"]`).waitFor({ timeout: 3_000 });
        }
        const [[, out1], [, out2]] = seen;
        if (!(out2 > out1 && out1 > startOut)) throw new Error(`${tapB.name}'s packets out did not move: ${startOut}, ${out1}, ${out2}`);
        if (deviceB.received === 0) throw new Error(`${tapB.name}'s device received none of ${sent} frames`);
        const drawn = await node(tapA.name).locator("text.counters").textContent();
        if (!/^in [1-9]/.test(drawn ?? "")) throw new Error(`the picture shows ${tapA.name}'s counters as "${drawn}"`);
        await page.screenshot({ path: join(opts.out, "lab.png"), fullPage: true });
        return `${tapA.name} in ${startIn} → ${seen.map((s) => s[0]).join(" → ")}, ${tapB.name} out ${startOut} → ${seen.map((s) => s[1]).join(" → ")}; ${deviceB.received} frames received`;
    } finally {
        clearInterval(sender);
    }
});

await check(`a member that leaves is drawn out of its bridge within ${leaveWithinMs} ms of the call`, async () => {
    // The timer starts just before the call; the page is asked at every frame whether it shows it.
    const started = performance.now();
    const gone = page.waitForFunction(([name]) => {
        const g = document.querySelector(`#picture g.node[data-name="${name}"]`);
        return g && g.getAttribute("data-member-of") === "" && !g.closest(".cluster");
    }, [tapB.name], { polling: "raf", timeout: 5_000 });
    await api("DELETE", `/v1/interfaces/${bridge.name}/members/${tapB.name}`);
    await gone;
    const took = performance.now() - started;
    if (took > leaveWithinMs) throw new Error(`it took ${took.toFixed(0)} ms`);
    await page.getByRole("group", { name: `Bridge ${bridge.name} with 1 member: ${tapA.name}` }).waitFor();
    return `${tapB.name} out of ${bridge.name} in ${took.toFixed(0)} ms`;
});

await check("closing a device shows it closed", async () => {
    await closeDevice(deviceB);
    await page.getByRole("img", { name: new RegExp(`^${tapB.name}: tap, up, device closed`) }).waitFor();
});

let epair;
await check("an epair's two ends are drawn with a cable between them", async () => {
    epair = await api("POST", "/v1/interfaces", { name: "epair" });
    const other = epair.peer;
    // Attached, not "visible": a level line's box has no height, which Playwright takes for hidden.
    const cable = page.getByRole("img", { name: `Cable between ${epair.name} and ${other}` });
    await cable.waitFor({ state: "attached" });
    const [ends] = await cable.locator("path").evaluateAll((paths) => paths.map((p) => p.getTotalLength()));
    if (!(ends > 40)) throw new Error(`the cable is ${ends} long`);
    await row(epair.name).getByText(`cable to ${other}`).waitFor();
    return `${epair.name} – ${other}`;
});

await check("every drawn thing has an accessible name, and the table a row for each interface", async () => {
    const unnamed = await page.locator("#picture [role=img]:not([aria-label]), #picture [role=img][aria-label=''], #picture [role=group]:not([aria-label])").count();
    if (unnamed) throw new Error(`${unnamed} drawn things have no name`);
    const nodes = await page.locator("#picture g.node").count();
    const rows = await page.locator("#facts tbody tr").count();
    if (nodes !== rows) throw new Error(`${nodes} interfaces drawn, ${rows} rows`);
    const listed = (await api("GET", "/v1/interfaces?limit=1000")).items.length;
    if (nodes !== listed) throw new Error(`${nodes} interfaces drawn, the API lists ${listed}`);
    return `${nodes} interfaces`;
});

const vnet = `page${Date.now().toString(36)}`;
await check("a vnet picked from the list shows that vnet's interfaces only", async () => {
    await api("POST", "/v1/vnets", { name: vnet });
    const tap = await api("POST", `/v1/vnets/${vnet}/interfaces`, { cloner: "tap" });
    await page.getByLabel("Vnet", { exact: true }).focus(); // the list is read again when the picker is about to be used
    await page.locator(`#vnet option[value="${vnet}"]`).waitFor({ state: "attached" });
    await page.getByLabel("Vnet", { exact: true }).selectOption(vnet);
    await page.waitForSelector("body[data-state=live]");
    await node(tap.name).waitFor();
    if (await node(bridge.name).count()) throw new Error(`${bridge.name} of host is still drawn`);
    if (!page.url().includes(`vnet=${vnet}`)) throw new Error(`the address does not keep the vnet: ${page.url()}`);
    await page.getByLabel("Vnet", { exact: true }).selectOption("host");
    await page.waitForSelector("body[data-state=live]");
    await node(bridge.name).waitFor();
    return `${vnet}: ${tap.name}`;
});

let before;
let meanwhile;
await check("the event stream broken off, the page resumes from where it was and shows what happened meanwhile", async () => {
    const proxy = await relay();
    relayed = proxy.url;
    const watcher = await newPage();
    try {
        await watcher.goto(`${proxy.url}/?access_token=${encodeURIComponent(opts.key)}`, { waitUntil: "load" });
        await watcher.waitForSelector("body[data-state=live]");
        // An event it has applied, to resume after.
        before = await api("POST", "/v1/interfaces", { cloner: "tap" });
        await watcher.locator(`#picture g.node[data-name="${before.name}"]`).waitFor();
        // The stream opened again after the cut; resuming is the browser's Last-Event-ID, or the page's
        // own ?after= when it had to reopen the stream itself.
        const reopened = watcher.waitForRequest((r) => new URL(r.url()).pathname.endsWith("/events"), { timeout: 30_000 });
        proxy.cut();
        meanwhile = await api("POST", "/v1/interfaces", { cloner: "tap" });
        const request = await reopened;
        const from = (await request.allHeaders())["last-event-id"] ?? new URL(request.url()).searchParams.get("after");
        if (!from) throw new Error(`the stream was opened again from now, not resumed: ${request.url()}`);
        await watcher.locator(`#picture g.node[data-name="${meanwhile.name}"]`).waitFor({ timeout: 30_000 });
        return `${meanwhile.name} shown, resumed after event ${from}`;
    } finally {
        await watcher.context().close();
        proxy.close();
    }
});

await check("in a dark colour scheme too (screenshot)", async () => {
    await page.emulateMedia({ colorScheme: "dark" });
    await page.screenshot({ path: join(opts.out, "lab-dark.png"), fullPage: true });
    await page.emulateMedia({ colorScheme: "light" });
});

await check("the page made no request outside the service, and no error or policy violation", async () => {
    if (foreign.length) throw new Error(`requests elsewhere: ${foreign.join(", ")}`);
    const bad = log.filter((l) => /page error|Content Security Policy|Refused to/.test(l));
    if (bad.length) throw new Error(bad.join("\n"));
});

for (const s of sockets) s.terminate();
await api("DELETE", `/v1/vnets/${vnet}`).catch(() => {});
for (const name of [before?.name, meanwhile?.name, epair?.name, tapA?.name, tapB?.name, bridge?.name]) {
    if (name) await api("DELETE", `/v1/interfaces/${name}`).catch(() => {});
}
await browser.close();
console.log(`    screenshots: ${join(opts.out, "lab.png")} ${join(opts.out, "lab-dark.png")}`);
