// What the browser checks share: waiting for the service, starting Debian's Chromium the way a
// closed network and a root container need, and reporting checks. bench/page.mjs uses it too.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

/** The service answers /readyz once its store is migrated and reachable. */
export async function waitReady(base, seconds = 60) {
    const deadline = Date.now() + seconds * 1000;
    let last = "";
    while (Date.now() < deadline) {
        try {
            const r = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2_000) });
            if (r.ok) return;
            last = `/readyz answered ${r.status}`;
        } catch (e) {
            last = e.cause?.code ?? e.message;
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`not ready after ${seconds} s (${last})`);
}

export function launch() {
    return chromium.launch({
        executablePath,
        chromiumSandbox: false,   // root in a container: Chromium's own sandbox cannot start
        timeout: 30_000,
        // The network is closed: no update, sync or background lookups that only time out.
        args: ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"],
    });
}

/** A failure before any check can run (bad arguments). */
export function fatal(message) {
    console.log(`browser: FAIL ${message}`);
    process.exit(1);
}

/**
 * The checks of one script, one "browser: PASS|FAIL" line each. The first failed check ends the run
 * (each later one builds on it), leaving `<name>-failure.png` and the page's console in `out`.
 * `state()` gives the page and browser as they are then; `cleanup()` runs before the exit.
 */
export function checks({ out, name, log, state, cleanup = () => {} }) {
    function pass(text) {
        console.log(`browser: PASS ${text}`);
    }

    async function fail(text, error) {
        console.log(`browser: FAIL ${text}`);
        console.log(`    ${String(error?.message ?? error).split("\n").join("\n    ")}`);
        const { page, browser } = state();
        try {
            mkdirSync(out, { recursive: true });
            if (page) {
                const shot = join(out, `${name}-failure.png`);
                await page.screenshot({ path: shot, fullPage: true, timeout: 5_000 });
                console.log(`    screenshot: ${shot}`);
            }
            if (log.length) {
                const file = join(out, `${name}-console.log`);
                writeFileSync(file, log.join("\n") + "\n");
                console.log(`    the page's console and failed requests (${file}):`);
                for (const line of log.slice(-20)) console.log(`      ${line}`);
            }
        } catch (e) {
            console.log(`    (no screenshot: ${e.message})`);
        }
        cleanup();
        await browser?.close().catch(() => {});
        process.exit(1);
    }

    // A check prints PASS (with what its body returns, if anything) or FAIL; a step prints only FAIL.
    async function check(text, body, { step = false } = {}) {
        let detail;
        try {
            detail = await body();
        } catch (e) {
            await fail(text, e);
        }
        if (!step) pass(detail ? `${text}: ${detail}` : text);
    }

    return { pass, fail, check };
}
