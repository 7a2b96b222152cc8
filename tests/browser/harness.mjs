// What the browser checks share: waiting for the service, and starting Debian's Chromium the way a
// closed network and a root container need. bench/page.mjs uses it too.
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
