// The lab page (/): how soon the picture shows a change made through the API. Run by bench/page.sh,
// which starts the service; Chromium and playwright-core are tests/browser's.
//
//   node bench/page.mjs BASE_URL --key KEY [--changes 20] [--warmup 5]
//
// How it is measured. The page is opened with the key and followed until it is live. Before its own
// scripts run, a MutationObserver is installed in it that notes when an interface's node
// (#picture g.node[data-name]) is added to the picture or removed from it, and hands the name and
// the time to Node through an exposed binding. The page draws in an animation frame, so the node
// enters the DOM in the frame that paints it. Node reads its clock just before each API call. Both
// times are performance.timeOrigin + performance.now(): the same wall clock at each process's
// origin plus a monotonic count since, so they compare across the two processes to well under a
// millisecond, and the binding's own trip back to Node is not counted.
//
// Each change is one create (POST /v1/interfaces {"name":"tap"}): from the call to the new tap's
// node in the picture. Its destroy is timed the same way, to the node leaving. The page's own share
// is from the create's event reaching the page (the init script wraps EventSource's listeners to
// note it) to the node in the picture; the rest is the service's: the create's commit and its event
// on the stream. --warmup changes go first, unmeasured (the service's and the page's code paths
// compile). Prints:
//   page create→shown p50=…ms p90=…ms max=…ms (20 changes)
//   page destroy→gone p50=…ms p90=…ms max=…ms (20 changes)
//   page event→shown  p50=…ms p90=…ms max=…ms (20 changes)
import { launch, waitReady } from "../tests/browser/harness.mjs";

const usage = "usage: node bench/page.mjs BASE_URL --key KEY [--changes N] [--warmup N]";
const opts = { key: "", changes: "20", warmup: "5" };
let base = "";
for (let i = 2; i < process.argv.length; i++) {
    const a = process.argv[i];
    if (["--key", "--changes", "--warmup"].includes(a) && i + 1 < process.argv.length) opts[a.slice(2)] = process.argv[++i];
    else if (!base && !a.startsWith("--")) base = a.replace(/\/+$/, "");
    else throw new Error(`unexpected argument ${a}; ${usage}`);
}
if (!base) throw new Error(usage);
const changes = Number(opts.changes);
const warmup = Number(opts.warmup);
const now = () => performance.timeOrigin + performance.now();

async function api(method, path, body) {
    const headers = opts.key ? { authorization: `Bearer ${opts.key}` } : {};
    if (body !== undefined) headers["content-type"] = "application/json";
    const r = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path} answered ${r.status}: ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : null;
}

// What the page reported, by "shown:NAME" and "gone:NAME": its time, and whoever waits for it.
const seen = new Map();
const waiting = new Map();
function report(what, at) {
    if (seen.has(what)) return;
    seen.set(what, at);
    waiting.get(what)?.(at);
}
function when(what, timeoutMs = 10_000) {
    if (seen.has(what)) return Promise.resolve(seen.get(what));
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the page did not report ${what} within ${timeoutMs} ms`)), timeoutMs);
        waiting.set(what, (at) => {
            clearTimeout(timer);
            resolve(at);
        });
    });
}

await waitReady(base);
const browser = await launch();
try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.exposeBinding("labReport", (_, what, at) => report(what, at));
    await page.addInitScript(() => {
        const names = (nodes) => [...nodes].filter((n) => n.nodeType === 1 && n.matches("g.node[data-name]")).map((n) => n.getAttribute("data-name"));
        const observer = new MutationObserver((records) => {
            const at = performance.timeOrigin + performance.now();
            for (const r of records) {
                // A node moved (into a bridge, out of one) is removed and added in one task: only a
                // node that is in the picture now counts as shown, and only one that is not as gone.
                for (const name of names(r.addedNodes)) window.labReport(`shown:${name}`, at);
                for (const name of names(r.removedNodes)) {
                    if (!document.querySelector(`#picture g.node[data-name="${CSS.escape(name)}"]`)) window.labReport(`gone:${name}`, at);
                }
            }
        });
        const listen = EventSource.prototype.addEventListener;
        EventSource.prototype.addEventListener = function (type, listener, options) {
            const noted = type !== "interface-arrival" ? listener : (m) => {
                window.labReport(`event:${JSON.parse(m.data).subject}`, performance.timeOrigin + performance.now());
                listener(m);
            };
            return listen.call(this, type, noted, options);
        };
        document.addEventListener("DOMContentLoaded", () => observer.observe(document.getElementById("picture"), { childList: true, subtree: true }));
    });
    await page.goto(`${base}/${opts.key ? `?access_token=${encodeURIComponent(opts.key)}` : ""}`);
    await page.waitForSelector("body[data-state=live]", { timeout: 30_000 });

    const shown = [];
    const gone = [];
    const own = [];
    for (let n = 0; n < warmup + changes; n++) {
        const createdAt = now();
        const tap = await api("POST", "/v1/interfaces", { name: "tap" });
        const drawnAt = await when(`shown:${tap.name}`);
        const heardAt = await when(`event:${tap.name}`);
        const destroyedAt = now();
        await api("DELETE", `/v1/interfaces/${tap.name}`);
        const removedAt = await when(`gone:${tap.name}`);
        // The name comes back with the next create: forget it.
        for (const what of ["shown", "gone", "event"]) seen.delete(`${what}:${tap.name}`);
        if (n >= warmup) {
            shown.push(drawnAt - createdAt);
            gone.push(removedAt - destroyedAt);
            own.push(drawnAt - heardAt);
        }
        await new Promise((resolve) => setTimeout(resolve, 50)); // separate changes, not a burst
    }
    const figures = (samples) => {
        const sorted = [...samples].sort((a, b) => a - b);
        const rank = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
        const ms = (v) => `${v.toFixed(1)}ms`;
        return `p50=${ms(rank(0.5))} p90=${ms(rank(0.9))} max=${ms(sorted.at(-1))} (${samples.length} changes)`;
    };
    console.log(`page create→shown ${figures(shown)}`);
    console.log(`page destroy→gone ${figures(gone)}`);
    console.log(`page event→shown  ${figures(own)}`);
} finally {
    await browser.close();
}
