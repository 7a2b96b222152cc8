// The picture and the table of a vnet's interfaces, drawn by hand in SVG: a bridge is a hub with a
// spoke to each member around it, on a shaded segment; epair ends are joined by a cable; whatever is
// in no bridge stands in rows below, an epair's two ends side by side. Elements are kept per
// interface id and updated in place, so a change moves or restyles what is there instead of
// drawing everything anew (and assistive technology keeps its place).
//
// Everything drawn has an accessible name (role="img" with aria-label and a <title>); the table says
// the same facts in text.

const SVG = "http://www.w3.org/2000/svg";
const SLOT = 132;         // the width one interface takes: its shape and its three lines of text
const ROW = 132;          // the height of a row of interfaces
const ABOVE = 36;         // room above a shape's centre (the device badge)
const BELOW = 92;         // room below it (name, state, counters)
const GAP = 36;           // between segments
const MAX_WIDTH = 1240;   // segments and rows wrap here, or at the page's width when it is narrower
const MOVING_MS = 900;    // how long a node shows that its counters moved

const zeroStats = { ipackets: 0, opackets: 0, ibytes: 0, obytes: 0, ierrors: 0, oerrors: 0, iqdrops: 0, oqdrops: 0 };

function el(name, attrs = {}, text) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
}

function set(e, name, value) {
    if (e.getAttribute(name) !== value) e.setAttribute(name, value);
}

function text(e, value) {
    if (e.textContent !== value) e.textContent = value;
}

const count = new Intl.NumberFormat("en");

/** A byte count as people read it: 1.2 kB, 3.4 MB. */
export function bytes(n) {
    if (n < 1000) return `${n} B`;
    const units = ["kB", "MB", "GB", "TB"];
    let v = n;
    let u = -1;
    do {
        v /= 1000;
        u++;
    } while (v >= 1000 && u < units.length - 1);
    return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

export const isOpen = (i) => (i.flags ?? []).includes("running");
const hasDevice = (i) => i.kind === "tap";
const hasCounters = (i) => i.kind !== "loop";

function kindName(i) {
    switch (i.kind) {
        case "tap": return "tap";
        case "bridge": return "bridge";
        case "epair": return "epair end";
        case "vlan": return i.vlan ? `vlan ${i.vlan}` : "vlan";
        case "loop": return "loopback";
        default: return i.kind;
    }
}

/**
 * Where everything goes. Bridges in index order, each with the members that are here (a member is
 * drawn once, in the first bridge that names it); then every other interface in index order, an
 * epair end followed by its other end when that is loose too, so their cable is short.
 */
export function layout(list, maxWidth = MAX_WIDTH) {
    const byName = new Map(list.map((i) => [i.name, i]));
    const memberOf = new Map();
    const clusters = [];
    for (const bridge of list.filter((i) => i.kind === "bridge")) {
        const members = [];
        for (const name of bridge.members ?? []) {
            const m = byName.get(name);
            if (m && m.kind !== "bridge" && !memberOf.has(name)) {
                memberOf.set(name, bridge.name);
                members.push(m);
            }
        }
        clusters.push({ bridge, members });
    }
    const loose = [];
    const placed = new Set();
    for (const i of list) {
        if (i.kind === "bridge" || memberOf.has(i.name) || placed.has(i.id)) continue;
        loose.push(i);
        placed.add(i.id);
        const peer = i.peer ? byName.get(i.peer) : undefined;
        if (peer && !memberOf.has(peer.name) && !placed.has(peer.id)) {
            loose.push(peer);
            placed.add(peer.id);
        }
    }

    const at = new Map();
    let x = 0;
    let y = 0;
    let rowHeight = 0;
    let width = 0;
    for (const c of clusters) {
        // Members on a circle around the hub, far enough apart for their labels, the first on the left.
        const n = c.members.length;
        const r = n === 0 ? 0 : Math.max(150, (n * SLOT) / (2 * Math.PI));
        const around = c.members.map((m, k) => {
            const a = Math.PI + (k * 2 * Math.PI) / n;
            return { id: m.id, x: r * Math.cos(a), y: r * Math.sin(a) };
        });
        const points = [{ x: 0, y: 0 }, ...around];
        const minX = Math.min(...points.map((p) => p.x)) - SLOT / 2;
        const maxX = Math.max(...points.map((p) => p.x)) + SLOT / 2;
        const minY = Math.min(...points.map((p) => p.y)) - ABOVE;
        const maxY = Math.max(...points.map((p) => p.y)) + BELOW;
        const w = maxX - minX;
        const h = maxY - minY;
        if (x > 0 && x + w > maxWidth) {
            x = 0;
            y += rowHeight + GAP;
            rowHeight = 0;
        }
        const cx = x - minX;
        const cy = y - minY;
        at.set(c.bridge.id, { x: cx, y: cy });
        for (const p of around) at.set(p.id, { x: cx + p.x, y: cy + p.y });
        c.box = { x, y, w, h };
        x += w + GAP;
        width = Math.max(width, x - GAP);
        rowHeight = Math.max(rowHeight, h);
    }
    if (clusters.length) y += rowHeight + GAP;
    const perRow = Math.max(1, Math.floor(maxWidth / SLOT));
    loose.forEach((i, k) => {
        at.set(i.id, { x: (k % perRow) * SLOT + SLOT / 2, y: y + Math.floor(k / perRow) * ROW + ABOVE });
    });
    if (loose.length) {
        width = Math.max(width, Math.min(loose.length, perRow) * SLOT);
        y += Math.ceil(loose.length / perRow) * ROW;
    }
    return { clusters, loose, at, memberOf, byName, width: Math.max(width, SLOT), height: Math.max(y, ROW) };
}

/** What an interface is joined to, in words: its bridge, its members, its cable, its parent. */
export function connections(i, plan) {
    const parts = [];
    const bridge = plan.memberOf.get(i.name);
    if (bridge) parts.push(`member of ${bridge}`);
    if (i.kind === "bridge") {
        const m = i.members ?? [];
        parts.push(m.length ? `members ${m.join(", ")}` : "no members");
    }
    if (i.kind === "epair") {
        if (!i.peer) parts.push("other end not in this vnet");
        else parts.push(plan.byName.has(i.peer) ? `cable to ${i.peer}` : `cable to ${i.peer}, not in this vnet`);
    }
    if (i.kind === "vlan") parts.push(i.parent ? `on ${i.parent}` : "no parent");
    return parts.join("; ");
}

function describe(i, plan) {
    const s = i.stats ?? zeroStats;
    const parts = [kindName(i), i.up ? "up" : "down"];
    if (hasDevice(i)) parts.push(isOpen(i) ? "device open" : "device closed");
    const joined = connections(i, plan);
    if (joined) parts.push(joined);
    if (hasCounters(i)) parts.push(`${count.format(s.ipackets)} packets in, ${count.format(s.opackets)} packets out`);
    return `${i.name}: ${parts.join(", ")}`;
}

export class Picture {
    /** @param {{svg: SVGSVGElement, tbody: HTMLTableSectionElement, summary: HTMLElement}} where */
    constructor({ svg, tbody, summary }) {
        this.svg = svg;
        this.tbody = tbody;
        this.summary = summary;
        // Bottom to top: the segments' shading, the cables (which run between segments), then the
        // bridges with their spokes and members, and what is in no bridge.
        this.shading = el("g", { class: "shading", "aria-hidden": "true" });
        this.wires = el("g", { class: "wires" });
        this.segments = el("g", { class: "segments" });
        this.looseGroup = el("g", { class: "loose", role: "group", "aria-label": "Interfaces in no bridge" });
        svg.replaceChildren(this.shading, this.wires, this.segments, this.looseGroup);
        this.nodes = new Map();      // id → <g>
        this.clusters = new Map();   // bridge id → {g, back, spokes}: its group, its shading, its spokes
        this.rows = new Map();       // id → <tr>
        this.counted = new Map();    // id → the packet counters last drawn
        this.moving = new Map();     // id → timer that ends its "moving" look
    }

    /** Draws every interface of the map (id → interface, as the API shapes it). */
    draw(interfaces, vnet) {
        const list = [...interfaces.values()].sort((a, b) => a.index - b.index || a.name.localeCompare(b.name));
        const room = this.svg.parentElement?.clientWidth || MAX_WIDTH;
        const plan = layout(list, Math.max(3 * SLOT, Math.min(MAX_WIDTH, room - 24)));
        const margin = 12;
        set(this.svg, "viewBox", `${-margin} ${-margin} ${plan.width + 2 * margin} ${plan.height + 2 * margin}`);
        set(this.svg, "width", String(plan.width + 2 * margin));
        set(this.svg, "height", String(plan.height + 2 * margin));

        const live = new Set(list.map((i) => i.id));
        for (const [id, g] of this.nodes) {
            if (!live.has(id)) {
                g.remove();
                this.nodes.delete(id);
                this.counted.delete(id);
                clearTimeout(this.moving.get(id));
                this.moving.delete(id);
            }
        }
        const bridges = new Set(plan.clusters.map((c) => c.bridge.id));
        for (const [id, c] of this.clusters) {
            if (!bridges.has(id)) {
                c.g.remove();
                c.back.remove();
                this.clusters.delete(id);
            }
        }

        let k = 0;
        for (const c of plan.clusters) this.drawCluster(c, plan, k++);
        list.forEach((i) => this.updateNode(i, plan));
        plan.loose.forEach((i, n) => place(this.looseGroup, this.nodes.get(i.id), n));
        set(this.looseGroup, "aria-label", plan.loose.length ? `In no bridge: ${plan.loose.map((i) => i.name).join(", ")}` : "No interface outside a bridge");
        this.drawWires(list, plan);
        this.drawTable(list, plan);
        this.drawSummary(list, vnet);
    }

    drawCluster(c, plan, order) {
        let cluster = this.clusters.get(c.bridge.id);
        if (!cluster) {
            const g = el("g", { class: "cluster", role: "group" });
            const back = el("rect", { class: "segment", rx: "18" });
            const spokes = el("g", { class: "spokes", "aria-hidden": "true" });
            g.append(spokes);
            cluster = { g, back, spokes };
            this.clusters.set(c.bridge.id, cluster);
        }
        place(this.segments, cluster.g, order);
        place(this.shading, cluster.back, order);
        const b = c.bridge;
        const names = c.members.map((m) => m.name);
        set(cluster.g, "data-bridge", b.name);
        set(cluster.g, "aria-label", `Bridge ${b.name} with ${names.length === 1 ? "1 member" : `${names.length} members`}${names.length ? `: ${names.join(", ")}` : ""}`);
        set(cluster.back, "x", String(c.box.x));
        set(cluster.back, "y", String(c.box.y));
        set(cluster.back, "width", String(c.box.w));
        set(cluster.back, "height", String(c.box.h));
        const hub = plan.at.get(b.id);
        cluster.spokes.replaceChildren(...c.members.map((m) => {
            const p = plan.at.get(m.id);
            return el("line", { class: `spoke ${b.up && m.up ? "up" : "down"}`, x1: hub.x, y1: hub.y, x2: p.x, y2: p.y });
        }));
        // The hub first, then its members, over the spokes.
        const members = [b, ...c.members].map((i) => this.nodeFor(i));
        members.forEach((g, n) => place(cluster.g, g, n + 1));
    }

    nodeFor(i) {
        let g = this.nodes.get(i.id);
        if (g) return g;
        g = el("g", { class: "node", role: "img", "data-id": i.id });
        const shape = (() => {
            switch (i.kind) {
                case "bridge": return el("rect", { class: "shape", x: "-44", y: "-22", width: "88", height: "44", rx: "10" });
                case "epair": return el("rect", { class: "shape", x: "-22", y: "-22", width: "44", height: "44", rx: "6" });
                case "vlan": return el("polygon", { class: "shape", points: "0,-26 26,0 0,26 -26,0" });
                case "loop": return el("circle", { class: "shape", r: "20" });
                case "tap": return el("circle", { class: "shape", r: "26" });
                default: return el("rect", { class: "shape", x: "-26", y: "-20", width: "52", height: "40", rx: "4" });
            }
        })();
        g.append(el("title"), shape, el("text", { class: "kind", y: "4" }));
        if (hasDevice(i)) g.append(el("circle", { class: "device", cx: "20", cy: "-20", r: "7" }));
        g.append(el("text", { class: "name", y: "46" }), el("text", { class: "state", y: "63" }), el("text", { class: "counters", y: "80" }));
        this.nodes.set(i.id, g);
        return g;
    }

    updateNode(i, plan) {
        const g = this.nodeFor(i);
        const p = plan.at.get(i.id);
        set(g, "transform", `translate(${p.x.toFixed(1)} ${p.y.toFixed(1)})`);
        const classes = ["node", `kind-${i.kind}`, i.up ? "up" : "down"];
        if (hasDevice(i)) classes.push(isOpen(i) ? "open" : "closed");
        if (this.moving.has(i.id)) classes.push("moving");
        set(g, "class", classes.join(" "));
        set(g, "data-name", i.name);
        set(g, "data-member-of", plan.memberOf.get(i.name) ?? "");
        const label = describe(i, plan);
        set(g, "aria-label", label);
        const [title, , kind] = g.children;
        text(title, label);
        text(kind, i.kind === "loop" ? "lo" : i.kind);
        text(g.querySelector(".name"), i.name);
        text(g.querySelector(".state"), [i.up ? "up" : "down", hasDevice(i) ? (isOpen(i) ? "open" : "closed") : null].filter(Boolean).join(" · "));
        const s = i.stats ?? zeroStats;
        text(g.querySelector(".counters"), hasCounters(i) ? `in ${count.format(s.ipackets)} · out ${count.format(s.opackets)}` : "");
        this.noticeMoving(i, g, s);
    }

    /** Counters that moved since they were last drawn make the node light up for a moment. */
    noticeMoving(i, g, s) {
        const before = this.counted.get(i.id);
        this.counted.set(i.id, { ipackets: s.ipackets, opackets: s.opackets });
        if (!before || (before.ipackets === s.ipackets && before.opackets === s.opackets)) return;
        clearTimeout(this.moving.get(i.id));
        g.classList.add("moving");
        this.moving.set(i.id, setTimeout(() => {
            this.moving.delete(i.id);
            g.classList.remove("moving");
        }, MOVING_MS));
    }

    /** Cables between epair ends and the lines from vlans to their parents, drawn under everything. */
    drawWires(list, plan) {
        const wires = [];
        for (const i of list) {
            const from = plan.at.get(i.id);
            if (i.kind === "epair" && i.peer) {
                const peer = plan.byName.get(i.peer);
                if (peer && peer.kind === "epair" && i.name > peer.name) continue; // once per cable
                const up = i.up && (!peer || peer.up);
                const g = el("g", { class: `cable ${up ? "up" : "down"}`, role: "img" });
                const label = peer ? `Cable between ${i.name} and ${peer.name}` : `Cable from ${i.name} to ${i.peer}, which is not in this vnet`;
                g.setAttribute("aria-label", label);
                g.append(el("title", {}, label));
                if (peer) {
                    const to = plan.at.get(peer.id);
                    // A straight line between neighbours, a bow otherwise, so it does not run through what lies between.
                    const dx = to.x - from.x;
                    const dy = to.y - from.y;
                    const near = Math.abs(dy) < 1 && Math.abs(dx) <= SLOT + 1;
                    const mx = (from.x + to.x) / 2 + (near ? 0 : -dy * 0.2);
                    const my = (from.y + to.y) / 2 + (near ? 0 : dx * 0.2 + 40);
                    g.append(el("path", { d: `M${from.x} ${from.y} Q${mx} ${my} ${to.x} ${to.y}` }));
                } else {
                    g.append(el("path", { d: `M${from.x} ${from.y} l48 -34` }),
                        el("text", { class: "far-end", x: String(from.x + 52), y: String(from.y - 36) }, `→ ${i.peer}`));
                }
                wires.push(g);
            }
            if (i.kind === "vlan" && i.parent && plan.byName.has(i.parent)) {
                const to = plan.at.get(plan.byName.get(i.parent).id);
                wires.push(el("line", { class: "trunk", "aria-hidden": "true", x1: from.x, y1: from.y, x2: to.x, y2: to.y }));
            }
        }
        this.wires.replaceChildren(...wires);
    }

    drawTable(list, plan) {
        const live = new Set(list.map((i) => i.id));
        for (const [id, tr] of this.rows) {
            if (!live.has(id)) {
                tr.remove();
                this.rows.delete(id);
            }
        }
        list.forEach((i, n) => {
            let tr = this.rows.get(i.id);
            if (!tr) {
                tr = document.createElement("tr");
                const head = document.createElement("th");
                head.scope = "row";
                tr.append(head);
                for (let c = 0; c < 10; c++) tr.append(document.createElement("td"));
                [...tr.children].slice(5).forEach((td) => td.classList.add("number"));
                tr.dataset.id = i.id;
                this.rows.set(i.id, tr);
            }
            const s = i.stats ?? zeroStats;
            const counters = hasCounters(i);
            const values = [
                i.name,
                kindName(i),
                i.up ? "up" : "down",
                hasDevice(i) ? (isOpen(i) ? "open" : "closed") : "—",
                connections(i, plan) || "—",
                counters ? count.format(s.ipackets) : "—",
                counters ? count.format(s.opackets) : "—",
                counters ? bytes(s.ibytes) : "—",
                counters ? bytes(s.obytes) : "—",
                counters ? count.format(s.ierrors + s.oerrors) : "—",
                counters ? count.format(s.iqdrops + s.oqdrops) : "—",
            ];
            values.forEach((v, c) => text(tr.children[c], v));
            tr.dataset.name = i.name;
            place(this.tbody, tr, n);
        });
    }

    drawSummary(list, vnet) {
        const of = (kind) => list.filter((i) => i.kind === kind);
        const many = (n, one, more) => `${n} ${n === 1 ? one : more}`;
        const taps = of("tap");
        const parts = [
            `${many(list.length, "interface", "interfaces")} in vnet ${vnet}`,
            many(of("bridge").length, "bridge", "bridges"),
            `${many(taps.length, "tap", "taps")} (${taps.filter(isOpen).length} with the device open)`,
            many(of("epair").length, "epair end", "epair ends"),
            `${list.filter((i) => i.up).length} up`,
        ];
        text(this.summary, `${parts.join(", ")}.`);
    }
}

/** Puts child at position n of parent, moving it only when it is not there already. */
function place(parent, child, n) {
    if (parent.children[n] !== child) parent.insertBefore(child, parent.children[n] ?? null);
}
