// The lab page: a vnet's interfaces as a live picture, from the API itself.
//
// - The key: given once (the key field, or /?access_token=KEY, which is taken out of the address at
//   once), kept in sessionStorage for this tab, and sent as `Authorization: Bearer` on fetches and as
//   `access_token` on the event stream (an EventSource cannot set headers). A service without keys
//   (open, on loopback) needs none.
// - The vnet: picked from GET /v1/vnets when the key may list them (a key bound to a vnet sees its
//   own only); the page then reads /v1/vnets/{vnet}/…, else the caller's own /v1/….
// - Live: the event stream is opened first; once it answers, every interface is read
//   (GET …/interfaces, page by page) while the events that come meanwhile wait, and then those are
//   applied in order. Each event sets the state it announces (a bridge's whole member list, all the
//   flags, up or down), so applying one the list already reflected changes nothing for good: the
//   events after it bring the picture to what the service has. An interface that arrives is drawn
//   from its event at once and then read whole (its epair peer, vlan parent, mtu); that read is
//   thrown away and made again if an event about it was applied while it was on its way.
//   The browser resumes a broken stream by itself with Last-Event-ID. When the service refuses to
//   resume (410 ENOBUFS: the events are no longer kept; 400: an id it never gave, as after a new
//   store), everything is read again the same way; after an error that passes (503, a restart), the
//   stream is reopened with ?after= the last event applied.
// - Counters live in the service's memory and no event carries them: they are read with the list
//   once a second, only while the page is visible.
import { Picture, isOpen } from "./picture.js";

const KEY_ITEM = "ifapi.key";
const STATS_EVERY_MS = 1000;
const RETRY_MS = 2000;
const REFRESH_TRIES = 4;
const CHANGES_KEPT = 12;
const EVENT_TYPES = ["interface-arrival", "interface-departure", "interface-rename", "interface-change",
    "link-up", "link-down", "group-attach", "group-detach", "group-change", "cloner-attach", "cloner-detach"];

const $ = (id) => document.getElementById(id);
const keyInput = $("key");
const vnetPicker = $("vnet-picker");
const vnetSelect = $("vnet");
const statusLine = $("status");
const errorBox = $("error");
const changes = $("changes");
const picture = new Picture({ svg: $("picture"), tbody: document.querySelector("#facts tbody"), summary: $("picture-summary") });

const key = () => sessionStorage.getItem(KEY_ITEM) ?? "";

/** An answer that is not 2xx, with the problem+json the service sent (errno, detail). */
class ApiError extends Error {
    constructor(status, problem, message) {
        super(message ?? problem?.detail ?? problem?.title ?? `HTTP ${status}`);
        this.status = status;
        this.errno = problem?.errno;
    }
}

async function api(path) {
    const headers = { accept: "application/json" };
    if (key()) headers.authorization = `Bearer ${key()}`;
    let r;
    try {
        r = await fetch(path, { headers, cache: "no-store" });
    } catch (e) {
        throw new ApiError(0, null, `the service cannot be reached (${e.message})`);
    }
    if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => null));
    return r.json();
}

function setState(state, message) {
    document.body.dataset.state = state;
    if (statusLine.textContent !== message) statusLine.textContent = message;
}

function showError(e) {
    const head = e.status ? `${e.status}${e.errno ? ` ${e.errno}` : ""}: ` : "";
    let hint = "";
    if (e.status === 401) hint = key() ? "The service does not know this key: enter another above." : "This service needs an API key with the read scope: enter it above.";
    else if (e.status === 403) hint = "This key lacks a scope the page needs (read).";
    else if (e.status === 404) hint = "Pick another vnet, or use a key of this one.";
    errorBox.replaceChildren(Object.assign(document.createElement("strong"), { textContent: `${head}${e.message}` }));
    if (hint) errorBox.append(document.createElement("br"), hint);
    errorBox.hidden = false;
    setState("error", "Not connected.");
    if (e.status === 401) keyInput.focus();
}

function clearError() {
    errorBox.hidden = true;
    errorBox.replaceChildren();
}

/** One line in "Recent changes" (a polite live region: assistive technology reads it out). */
function note(text) {
    const li = document.createElement("li");
    const time = document.createElement("time");
    const now = new Date();
    time.dateTime = now.toISOString();
    time.textContent = now.toLocaleTimeString();
    li.append(time, ` ${text}`);
    changes.prepend(li);
    while (changes.children.length > CHANGES_KEPT) changes.lastElementChild.remove();
}

/** Follows one vnet: its interfaces, its events and its counters, until stopped. */
class Follower {
    constructor(base, vnet) {
        this.base = base;              // "/v1" or "/v1/vnets/NAME"
        this.vnet = vnet;
        this.interfaces = new Map();   // id → interface, as the API shapes it
        this.live = false;             // false while a list is being read: events wait in `waiting`
        this.waiting = [];
        this.lastEventId = null;       // of the last event received, for ?after= on a reopen
        this.applied = 0;              // events applied so far, to tell whether one came during a read
        this.touched = new Map();      // id → `applied` when an event last changed that interface
        this.stopped = false;
        this.stream = null;
        this.polling = false;
        this.pollTimer = 0;
        this.frame = 0;
    }

    start() {
        setState("connecting", `Connecting to ${this.vnet}…`);
        this.open(null);
    }

    stop() {
        this.stopped = true;
        this.stream?.close();
        clearTimeout(this.pollTimer);
        cancelAnimationFrame(this.frame);
    }

    /** Opens the event stream: from now (and then reads everything), or after an event already applied. */
    open(after) {
        const url = new URL(`${this.base}/events`, location.origin);
        if (after !== null) url.searchParams.set("after", after);
        if (key()) url.searchParams.set("access_token", key());
        const stream = new EventSource(url);
        this.stream = stream;
        stream.onopen = () => {
            if (this.stopped || this.stream !== stream) return;
            if (after === null) this.readAll();
            else setState("live", this.liveMessage());
        };
        stream.onerror = () => {
            if (this.stopped || this.stream !== stream) return;
            if (stream.readyState === EventSource.CLOSED) this.closed(stream);
            else setState("reconnecting", "The event stream broke off: reconnecting, from where it was…");
        };
        for (const type of EVENT_TYPES) stream.addEventListener(type, (m) => this.receive(stream, m));
    }

    /**
     * The service answered the stream with an error, which an EventSource does not show: the same
     * request through fetch tells which (the answer's head only; a stream that works is cut at once).
     */
    async closed(stream) {
        stream.close();
        const headers = { accept: "text/event-stream" };
        if (key()) headers.authorization = `Bearer ${key()}`;
        if (this.lastEventId !== null) headers["last-event-id"] = this.lastEventId;
        const abort = new AbortController();
        let error = null;
        try {
            const r = await fetch(`${this.base}/events`, { headers, signal: abort.signal, cache: "no-store" });
            if (!r.ok) error = new ApiError(r.status, await r.json().catch(() => null));
            abort.abort();
        } catch (e) {
            error = new ApiError(0, null, `the service cannot be reached (${e.message})`);
        }
        if (this.stopped) return;
        if (error && [401, 403, 404].includes(error.status)) {
            this.stop();
            showError(error);
        } else if (error && [400, 410].includes(error.status)) {
            setState("connecting", `Events were missed (${error.errno ?? error.status}): reading everything again…`);
            note(`events were missed (${error.errno ?? error.status}): every interface read again`);
            this.live = false;
            this.open(null);
        } else {
            setState("reconnecting", `The event stream failed (${error?.message ?? "it closed"}): trying again…`);
            setTimeout(() => {
                if (this.stopped) return;
                if (this.lastEventId === null) {
                    this.live = false;
                    this.open(null);
                } else {
                    this.open(this.lastEventId);
                }
            }, RETRY_MS);
        }
    }

    receive(stream, message) {
        if (this.stopped || this.stream !== stream) return;
        let event;
        try {
            event = JSON.parse(message.data);
        } catch {
            return;
        }
        this.lastEventId = message.lastEventId || String(event.id);
        if (this.live) this.apply(event);
        else this.waiting.push(event);
    }

    /** Every interface, page by page (the list's own order: by index). */
    async list() {
        const items = [];
        let after = null;
        do {
            const query = new URLSearchParams({ limit: "1000" });
            if (after) query.set("after", after);
            const page = await api(`${this.base}/interfaces?${query}`);
            items.push(...page.items);
            after = page.next ?? null;
        } while (after);
        return items;
    }

    async readAll() {
        this.live = false;
        let items;
        try {
            items = await this.list();
        } catch (e) {
            if (this.stopped) return;
            if ([401, 403, 404].includes(e.status)) {
                this.stop();
                showError(e);
            } else {
                setState("reconnecting", `Reading the interfaces failed (${e.message}): trying again…`);
                setTimeout(() => !this.stopped && this.readAll(), RETRY_MS);
            }
            return;
        }
        if (this.stopped) return;
        clearError();
        this.interfaces = new Map(items.map((i) => [i.id, i]));
        this.live = true;
        const waiting = this.waiting;
        this.waiting = [];
        for (const e of waiting) this.apply(e);
        this.render();
        setState("live", this.liveMessage());
        this.poll();
    }

    liveMessage() {
        return `Live: vnet ${this.vnet}, following its events; counters every ${STATS_EVERY_MS / 1000} s while this page is visible.`;
    }

    touch(id) {
        if (id) this.touched.set(id, this.applied);
    }

    /** One event, applied to what the page holds (see the top of this file). */
    apply(e) {
        const d = e.data ?? {};
        this.applied++;
        this.touch(d.id);
        const i = d.id ? this.interfaces.get(d.id) : undefined;
        switch (e.type) {
            case "interface-arrival":
                if (!i) {
                    this.interfaces.set(d.id, {
                        id: d.id, index: d.index, name: d.name, kind: d.kind, cloner: d.cloner, unit: d.unit,
                        groups: d.groups ?? [], flags: [], up: false, members: d.kind === "bridge" ? [] : undefined,
                    });
                }
                this.refresh(d.id, REFRESH_TRIES);
                note(`${d.name} created (${d.kind})`);
                break;
            case "interface-departure":
                if (i) {
                    this.interfaces.delete(d.id);
                    this.forget(i.name);
                }
                note(`${d.name} gone`);
                break;
            case "interface-rename":
                if (i) {
                    i.name = d.name;
                    this.renamed(d.oldName, d.name);
                }
                note(`${d.oldName} renamed ${d.name}`);
                break;
            case "interface-change":
                if (i) this.changed(i, d.changes ?? {});
                break;
            case "link-up":
            case "link-down":
                if (i) {
                    i.up = e.type === "link-up";
                    i.flags = withFlag(i.flags, "up", i.up);
                }
                note(`${d.name} ${e.type === "link-up" ? "up" : "down"}`);
                break;
            case "group-change":
                if (i) i.groups = d.member ? [...new Set([...(i.groups ?? []), d.group])] : (i.groups ?? []).filter((g) => g !== d.group);
                note(`${d.name} ${d.member ? "joined" : "left"} group ${d.group}`);
                break;
            case "cloner-attach":
            case "cloner-detach":
                note(`cloner ${d.cloner} ${e.type === "cloner-attach" ? "attached" : "detached"}`);
                break;
            default:
                break;
        }
        this.render();
    }

    changed(i, c) {
        if ("members" in c) {
            const before = i.members ?? [];
            const joined = c.members.filter((m) => !before.includes(m));
            const left = before.filter((m) => !c.members.includes(m));
            i.members = c.members;
            for (const m of joined) note(`${m} joined ${i.name}`);
            for (const m of left) note(`${m} left ${i.name}`);
        }
        if ("flags" in c) {
            const was = isOpen(i);
            i.flags = withFlag(c.flags, "up", i.up);
            if (i.kind === "tap" && was !== isOpen(i)) note(`${i.name} device ${isOpen(i) ? "opened" : "closed"}`);
        }
        for (const attribute of ["mtu", "metric", "description", "lladdr"]) {
            if (attribute in c) {
                i[attribute] = c[attribute];
                note(`${i.name} ${attribute} ${c[attribute] ?? "cleared"}`);
            }
        }
    }

    /** Names are how bridges, epair ends and vlans point at each other: a rename is followed. */
    renamed(oldName, name) {
        for (const other of this.interfaces.values()) {
            if (other.members?.includes(oldName)) {
                other.members = other.members.map((m) => (m === oldName ? name : m));
                this.touch(other.id);
            }
            if (other.peer === oldName) {
                other.peer = name;
                this.touch(other.id);
            }
            if (other.parent === oldName) {
                other.parent = name;
                this.touch(other.id);
            }
        }
    }

    /** What pointed at an interface that left: a bridge loses the member; a vlan is read again (it lost its parent). */
    forget(name) {
        for (const other of this.interfaces.values()) {
            if (other.members?.includes(name)) {
                other.members = other.members.filter((m) => m !== name);
                this.touch(other.id);
            }
            if (other.parent === name) this.refresh(other.id, REFRESH_TRIES);
        }
    }

    /** Reads one interface whole; if an event about it was applied meanwhile, the read may be older: again. */
    async refresh(id, tries) {
        const mark = this.applied;
        let item;
        try {
            item = await api(`${this.base}/interfaces/${encodeURIComponent(id)}`);
        } catch (e) {
            // 404: it is gone again, and its departure is on its way. Anything else: once more, later.
            if (e.status !== 404 && tries > 1 && !this.stopped) setTimeout(() => this.refresh(id, tries - 1), RETRY_MS);
            return;
        }
        if (this.stopped || !this.interfaces.has(id)) return;
        if ((this.touched.get(id) ?? 0) > mark) {
            if (tries > 1) this.refresh(id, tries - 1);
            return;
        }
        const stats = this.interfaces.get(id).stats;
        this.interfaces.set(id, { ...item, stats: item.stats ?? stats });
        this.render();
    }

    /** The counters: the list once a second, while the page is visible. */
    async poll() {
        clearTimeout(this.pollTimer);
        if (this.stopped || this.polling) return;
        if (document.visibilityState === "visible" && this.live) {
            this.polling = true;
            try {
                const items = await this.list();
                for (const item of items) {
                    const i = this.interfaces.get(item.id);
                    if (i) i.stats = item.stats;
                }
                if (!this.stopped && document.body.dataset.state !== "live" && this.stream?.readyState === EventSource.OPEN)
                    setState("live", this.liveMessage());
                this.render();
            } catch (e) {
                if (!this.stopped && [401, 403, 404].includes(e.status)) {
                    this.stop();
                    showError(e);
                }
            } finally {
                this.polling = false;
            }
        }
        if (!this.stopped) this.pollTimer = setTimeout(() => this.poll(), STATS_EVERY_MS);
    }

    /** Draws once per frame, however many events came in it. */
    render() {
        if (this.frame || this.stopped) return;
        this.frame = requestAnimationFrame(() => {
            this.frame = 0;
            if (!this.stopped) picture.draw(this.interfaces, this.vnet);
        });
    }
}

function withFlag(flags, flag, on) {
    const rest = (flags ?? []).filter((f) => f !== flag);
    return on ? [flag, ...rest] : rest;
}

let follower = null;

/** The vnets the key may list, or null when it may not (then the page reads its own /v1/…). */
async function vnets() {
    try {
        return (await api("/v1/vnets")).items.map((v) => v.name);
    } catch (e) {
        if (e.status === 401 || e.status === 0) throw e;
        return null;
    }
}

function fillPicker(names, chosen) {
    const options = names.map((name) => Object.assign(document.createElement("option"), { value: name, textContent: name === "host" ? "host (the host's own stack)" : name }));
    vnetSelect.replaceChildren(...options);
    vnetSelect.value = chosen;
    vnetPicker.hidden = false;
}

/** (Re)starts everything: after the page loads, a key is given or forgotten, or a vnet is picked. */
async function connect() {
    follower?.stop();
    follower = null;
    clearError();
    setState("connecting", "Connecting…");
    let names;
    try {
        names = await vnets();
    } catch (e) {
        showError(e);
        return;
    }
    const address = new URL(location.href);
    let base = "/v1";
    let vnet = "your own";
    if (names?.length) {
        const asked = address.searchParams.get("vnet");
        vnet = names.includes(asked) ? asked : names.includes("host") ? "host" : names[0];
        base = `/v1/vnets/${encodeURIComponent(vnet)}`;
        fillPicker(names, vnet);
    } else {
        vnetPicker.hidden = true;
    }
    follower = new Follower(base, vnet);
    follower.start();
}

// A key in the address is taken once and removed from it (and from the history).
const address = new URL(location.href);
if (address.searchParams.has("access_token")) {
    const given = address.searchParams.get("access_token");
    if (given) sessionStorage.setItem(KEY_ITEM, given);
    address.searchParams.delete("access_token");
    history.replaceState(null, "", address);
}
keyInput.value = key();

$("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const given = keyInput.value.trim();
    if (given) sessionStorage.setItem(KEY_ITEM, given);
    else sessionStorage.removeItem(KEY_ITEM);
    connect();
});
$("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_ITEM);
    keyInput.value = "";
    connect();
});
vnetSelect.addEventListener("change", () => {
    const url = new URL(location.href);
    url.searchParams.set("vnet", vnetSelect.value);
    history.replaceState(null, "", url);
    connect();
});
// Vnets come and go: the list is read again when the picker is about to be used.
vnetSelect.addEventListener("focus", async () => {
    const names = await vnets().catch(() => null);
    if (names?.length && names.join() !== [...vnetSelect.options].map((o) => o.value).join()) fillPicker(names, vnetSelect.value);
});
// The picture wraps at the page's width: drawn again when that changes.
let resizing = 0;
window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => follower?.render(), 150);
});
document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") follower?.poll();
});

connect();
