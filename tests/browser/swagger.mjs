// Swagger UI as a person uses it: headless Chromium opens /swagger, creates an interface through
// "Try it out" on POST /v1/interfaces, reads the response the page shows, and then asks the API
// over plain HTTP that the interface exists.
//
//   node swagger.mjs BASE_URL [--out DIR] [--key KEY] [--name NAME]
//
// --out: where a screenshot and the page's console go when a check fails (default: the cwd).
// --key: an API key entered through Swagger UI's "Authorize" dialog (Bearer) before "Try it out",
//        and sent on the plain HTTP check; needs the document's security scheme.
// --name: the create request's name (default "tap"); the response's name must be it plus a unit.
// Prints one line per check ("browser: PASS …" / "browser: FAIL …") and exits non-zero on any failure.
// The browser is Debian's Chromium (CHROMIUM overrides /usr/bin/chromium); nothing is downloaded.
import { checks, executablePath, fatal, launch, waitReady } from "./harness.mjs";

const usage = "usage: node swagger.mjs BASE_URL [--out DIR] [--key KEY] [--name NAME]";
const opts = { out: process.cwd(), key: "", name: "tap" };
let base = "";
for (let i = 2; i < process.argv.length; i++) {
    const a = process.argv[i];
    if (a === "--out" || a === "--key" || a === "--name") {
        if (i + 1 >= process.argv.length) fatal(`${a} needs a value; ${usage}`);
        opts[a.slice(2)] = process.argv[++i];
    } else if (!base && !a.startsWith("--")) {
        base = a.replace(/\/+$/, "");
    } else {
        fatal(`unexpected argument ${a}; ${usage}`);
    }
}
if (!base) fatal(usage);

const timeout = 15_000;           // per step: Swagger UI renders in well under a second here
const log = [];                   // the page's console, failed requests and errors, for a failure
let browser;
let page;

const { check } = checks({ out: opts.out, name: "swagger", log, state: () => ({ page, browser }) });

function authHeaders() {
    return opts.key ? { authorization: `Bearer ${opts.key}` } : {};
}

await check(`the service at ${base} is ready`, () => waitReady(base), { step: true });

await check(`Chromium starts (${executablePath})`, async () => {
    browser = await launch();
    const context = await browser.newContext({ viewport: { width: 1280, height: 1024 } });
    context.setDefaultTimeout(timeout);
    page = await context.newPage();
    page.on("console", (m) => log.push(`console.${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => log.push(`page error: ${e.message}`));
    page.on("requestfailed", (r) => log.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ""}`));
    page.on("response", (r) => {
        if (r.status() >= 400) log.push(`response ${r.status()}: ${r.request().method()} ${r.url()}`);
    });
}, { step: true });

// Swagger UI shows its own error box (and no operations) when the document fails to load or parse.
const create = () => page.locator(".opblock.opblock-post")
    .filter({ has: page.locator('.opblock-summary-path[data-path="/v1/interfaces"]') });

await check("Swagger UI shows POST /v1/interfaces", async () => {
    const r = await page.goto(`${base}/swagger/index.html`, { waitUntil: "load" });
    if (!r?.ok()) throw new Error(`/swagger/index.html answered ${r?.status()}`);
    const error = page.locator(".errors-wrapper, .loading-container .info");
    await Promise.race([create().waitFor(), error.first().waitFor()]);
    if (await error.count()) {
        const text = (await error.first().innerText()).trim().replace(/\s+/g, " ");
        throw new Error(`Swagger UI reports: ${text}`);
    }
    if (await create().count() !== 1) throw new Error(`${await create().count()} POST /v1/interfaces operations`);
});

if (opts.key) {
    await check("the key is entered through Authorize", async () => {
        const open = page.locator(".scheme-container button.authorize");
        if (!await open.count()) throw new Error("no Authorize button: the document declares no security scheme");
        await open.click();
        const dialog = page.locator(".modal-ux");
        await dialog.locator("input").first().fill(opts.key);
        await dialog.locator("button.modal-btn.auth.authorize").first().click();
        // Once authorized the dialog offers Logout in place of Authorize.
        await dialog.locator("button.modal-btn.auth", { hasText: "Logout" }).first().waitFor();
        await dialog.locator("button.modal-btn.auth.btn-done, button.close-modal").first().click();
        await dialog.waitFor({ state: "detached" });
    });
}

let created = "";
await check(`Try it out: POST /v1/interfaces {"name":"${opts.name}"} shows 201 and ${opts.name}N`, async () => {
    const op = create();
    await op.locator(".opblock-summary").first().click();
    await op.locator("button.try-out__btn").click();
    const body = op.locator("textarea.body-param__text");
    await body.fill(JSON.stringify({ name: opts.name }));
    await op.locator("button.execute").click();
    const live = op.locator(".live-responses-table .response").first();
    await live.waitFor();
    // The status cell reads "500\nUndocumented" for a code the document does not list.
    const [status, note = ""] = (await live.locator(".response-col_status").innerText()).trim().split(/\s+/);
    const shown = (await live.locator(".response-col_description pre, .response-col_description code").first().innerText()).trim();
    if (status !== "201") throw new Error(`the page shows status ${status}${note && ` (${note})`}: ${shown.slice(0, 500)}`);
    let json;
    try {
        json = JSON.parse(shown);
    } catch {
        throw new Error(`the page shows a body that is not JSON: ${shown.slice(0, 500)}`);
    }
    const unit = new RegExp(`^${opts.name.replace(/[^a-z0-9]/gi, "\\$&")}[0-9]+$`);
    if (!unit.test(json.name ?? "")) throw new Error(`the page shows name ${JSON.stringify(json.name)}, not ${opts.name}N`);
    created = json.name;
    return `${status} ${created}`;
});

await check("GET /v1/interfaces/{name} over plain HTTP finds it", async () => {
    const r = await fetch(`${base}/v1/interfaces/${encodeURIComponent(created)}`, { headers: authHeaders() });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`GET /v1/interfaces/${created} answered ${r.status}: ${text.slice(0, 500)}`);
    const json = JSON.parse(text);
    if (json.name !== created) throw new Error(`GET /v1/interfaces/${created} answered name ${JSON.stringify(json.name)}`);
});

await browser.close();
