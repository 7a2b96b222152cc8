using IfApi.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace IfApi.Store;

/// <summary>
/// Told, after a change commits, which interfaces' links (attributes, bridge memberships, existence)
/// it touched, so that whoever carries their frames can follow. Only interfaces that existed
/// before the change are named: a new interface has nothing to follow yet.
/// </summary>
public interface IInterfaceWatcher
{
    ValueTask ChangedAsync(IReadOnlyList<Guid> ids, CancellationToken ct);
}

/// <summary>Nobody follows: the store alone, as in its own tests and tools.</summary>
public sealed class NoInterfaceWatcher : IInterfaceWatcher
{
    public ValueTask ChangedAsync(IReadOnlyList<Guid> ids, CancellationToken ct) => ValueTask.CompletedTask;
}

/// <summary>One interface's links as stored: what the frame path is wired from.</summary>
/// <param name="Peer">The other end of an epair.</param>
/// <param name="Bridge">The bridge it is a member of.</param>
public sealed record LinkRow(Guid Id, InterfaceKind Kind, IfFlags Flags, int Mtu, Guid? Peer, Guid? Bridge);

public sealed partial class IfStore
{
    /// <summary>
    /// The interfaces a frame of any of <paramref name="ids"/> can reach: each one, its epair peer,
    /// its bridge, that bridge's members, and so on through them. Those that do not exist are absent.
    /// </summary>
    public Task<IReadOnlyList<LinkRow>> GetLinksAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct) =>
        tx.ReadAsync(async (db, ct) =>
        {
            var found = new Dictionary<Guid, LinkRow>();
            var frontier = ids.Distinct().ToList();
            while (frontier.Count > 0)
            {
                // The frontier's interfaces and, for those that are bridges, their members.
                var rows = await db.Interfaces.AsNoTracking()
                    .Where(i => frontier.Contains(i.Id) || (i.BridgeId != null && frontier.Contains(i.BridgeId.Value)))
                    .Select(i => new { i.Id, i.Kind, i.Flags, i.Mtu, i.PeerId, i.BridgeId })
                    .ToListAsync(ct);
                var next = new HashSet<Guid>();
                foreach (var r in rows)
                {
                    if (found.ContainsKey(r.Id))
                        continue;
                    var link = new LinkRow(r.Id, Kinds.Parse(r.Kind), (IfFlags)r.Flags, r.Mtu, r.PeerId, r.BridgeId);
                    found.Add(r.Id, link);
                    if (link.Kind == InterfaceKind.Bridge && !frontier.Contains(r.Id))
                        next.Add(r.Id); // its members come with it next time
                    foreach (var other in (Guid?[])[r.PeerId, r.BridgeId])
                    {
                        if (other is Guid o && !found.ContainsKey(o))
                            next.Add(o);
                    }
                }
                next.ExceptWith(frontier);
                frontier = next.ToList();
            }
            return (IReadOnlyList<LinkRow>)found.Values.ToList();
        }, ct);

    /// <summary>A bridge's members by index (<c>BRDGGIFS</c>).</summary>
    public Task<IReadOnlyList<string>> GetMembersAsync(string bridge, CancellationToken ct) =>
        tx.ReadAsync(async (db, ct) =>
        {
            var b = await FindBridgeAsync(db, bridge, ct);
            return (IReadOnlyList<string>)await MembersOf(db, b.Id).ToListAsync(ct);
        }, ct);

    /// <summary>
    /// <c>BRDGADD</c> (<c>bridge_ioctl_add</c>): <paramref name="member"/> joins the bridge. Already a
    /// member of this bridge: nothing changes (<c>Added</c> false); of another: EBUSY. Only
    /// Ethernet-like interfaces can join (EOPNOTSUPP). The bridge's version moves with its members.
    /// </summary>
    public async Task<(bool Added, InterfaceInfo Bridge)> AddMemberAsync(string bridge, string member, IReadOnlySet<long>? ifMatch, CancellationToken ct)
    {
        var (added, info, ids) = await tx.WriteAsync(async (db, ct) =>
        {
            var b = await FindBridgeAsync(db, bridge, ct);
            var m = await FindMemberAsync(db, member, Ioctl.BridgeAdd, ct);
            if (m.Id == b.Id || !Kinds.Parse(m.Kind).IsEthernet() || Kinds.Parse(m.Kind) == InterfaceKind.Bridge)
                throw new IfError(Errno.EOPNOTSUPP, $"'{m.Name}' is not an Ethernet interface a bridge can hold", Ioctl.BridgeAdd);
            await tx.LockRowsAsync(db, [b.Id, m.Id], ct);
            var (row, memberRow) = await LockedPairAsync(db, b.Id, m.Id, bridge, member, Ioctl.BridgeAdd, ct);
            CheckVersion(row.Row, ifMatch);
            if (memberRow.BridgeId == b.Id)
                return (false, ToInfo(row), Array.Empty<Guid>());
            if (memberRow.BridgeId is not null)
                throw new IfError(Errno.EBUSY, $"'{memberRow.Name}' is a member of another bridge", Ioctl.BridgeAdd);
            memberRow.BridgeId = b.Id;
            row.Row.Version++;
            row.Members!.Add(memberRow.Name);
            AnnounceMembers(db, row);
            log.LogInformation("{Member} joined bridge {Bridge}", memberRow.Name, row.Row.Name);
            return (true, ToInfo(row), new[] { b.Id, m.Id });
        }, ct);
        if (ids.Length > 0)
            await watcher.ChangedAsync(ids, ct);
        return (added, info);
    }

    /// <summary><c>BRDGDEL</c> (<c>bridge_ioctl_del</c>): the member leaves; not a member of it → ENOENT.</summary>
    public async Task<InterfaceInfo> RemoveMemberAsync(string bridge, string member, IReadOnlySet<long>? ifMatch, CancellationToken ct)
    {
        var (info, ids) = await tx.WriteAsync(async (db, ct) =>
        {
            var b = await FindBridgeAsync(db, bridge, ct);
            var m = await FindMemberAsync(db, member, Ioctl.BridgeDelete, ct);
            await tx.LockRowsAsync(db, [b.Id, m.Id], ct);
            var (row, memberRow) = await LockedPairAsync(db, b.Id, m.Id, bridge, member, Ioctl.BridgeDelete, ct);
            CheckVersion(row.Row, ifMatch);
            if (memberRow.BridgeId != b.Id)
                throw new IfError(Errno.ENOENT, $"'{memberRow.Name}' is not a member of '{row.Row.Name}'", Ioctl.BridgeDelete);
            memberRow.BridgeId = null;
            row.Row.Version++;
            row.Members!.Remove(memberRow.Name);
            AnnounceMembers(db, row);
            log.LogInformation("{Member} left bridge {Bridge}", memberRow.Name, row.Row.Name);
            return (ToInfo(row), new[] { b.Id, m.Id });
        }, ct);
        await watcher.ChangedAsync(ids, ct);
        return info;
    }

    // ---- tap devices across replicas ---------------------------------------------------------

    private static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>
    /// <c>tap_dev_open</c> as far as the store sees it: takes the device's lease for this replica and
    /// sets IFF_RUNNING (and IFF_UP with <paramref name="bringUp"/>, as a cloning open does), in one
    /// transaction. Open on another replica whose lease is still live: EBUSY. The lease is taken by
    /// a conditional update, so two replicas racing for an expired one cannot both win; two racing
    /// to insert the first one collide on its key and the loser runs again and finds it taken.
    /// </summary>
    public async Task OpenDeviceAsync(Guid id, bool bringUp, CancellationToken ct)
    {
        var cameUp = await tx.WriteAsync(async (db, ct) =>
        {
            // The row first: opens, closes and the expiry of this device take turns on it, so the
            // flags read below are the ones this transaction's write will replace.
            await tx.LockRowsAsync(db, [id], ct);
            var found = await Project(db, db.Interfaces.Where(i => i.Id == id)).FirstOrDefaultAsync(ct)
                ?? throw new IfError(Errno.ENXIO, "the interface was destroyed meanwhile", Ioctl.TapOpen);
            var now = NowMs();
            var until = now + (long)options.LeaseDuration.TotalMilliseconds;
            var me = options.ReplicaId;
            var renewed = await db.TapLeases.Where(l => l.InterfaceId == id && (l.Holder == me || l.ExpiresAt <= now))
                .ExecuteUpdateAsync(s => s.SetProperty(l => l.Holder, me).SetProperty(l => l.ExpiresAt, until), ct);
            if (renewed == 0)
            {
                if (await db.TapLeases.AnyAsync(l => l.InterfaceId == id, ct))
                    throw new IfError(Errno.EBUSY, $"'{found.Row.Name}' is open on another replica", Ioctl.TapOpen);
                db.TapLeases.Add(new TapLeaseRow { InterfaceId = id, Holder = me, ExpiresAt = until });
            }
            return SetRunning(db, found, running: true, bringUp);
        }, ct);
        if (cameUp)
            await watcher.ChangedAsync([id], ct);
    }

    /// <summary>
    /// <c>tap_dev_close</c>: gives the lease back and clears IFF_RUNNING, only if this replica held
    /// it (a refused open must not clear the flag of the replica that has the device).
    /// </summary>
    public Task CloseDeviceAsync(Guid id, CancellationToken ct) =>
        tx.WriteAsync(async (db, ct) =>
        {
            await tx.LockRowsAsync(db, [id], ct);
            var me = options.ReplicaId;
            if (await db.TapLeases.Where(l => l.InterfaceId == id && l.Holder == me).ExecuteDeleteAsync(ct) == 0)
                return 0;
            if (await Project(db, db.Interfaces.Where(i => i.Id == id)).FirstOrDefaultAsync(ct) is { } found)
                SetRunning(db, found, running: false, bringUp: false);
            return 1;
        }, ct);

    /// <summary>Renews this replica's leases of the given devices; returns those it still holds.</summary>
    public Task<List<Guid>> RenewLeasesAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct) =>
        tx.WriteAsync(async (db, ct) =>
        {
            var me = options.ReplicaId;
            var until = NowMs() + (long)options.LeaseDuration.TotalMilliseconds;
            await db.TapLeases.Where(l => ids.Contains(l.InterfaceId) && l.Holder == me)
                .ExecuteUpdateAsync(s => s.SetProperty(l => l.ExpiresAt, until), ct);
            return await db.TapLeases.Where(l => ids.Contains(l.InterfaceId) && l.Holder == me).Select(l => l.InterfaceId).ToListAsync(ct);
        }, ct);

    /// <summary>
    /// Ends the leases nobody renewed (their holder stopped without closing: killed, or cut off) and
    /// clears IFF_RUNNING wherever no lease is left. Any replica may run it; returns how many
    /// interfaces it cleared.
    /// </summary>
    public Task<int> ExpireLeasesAsync(CancellationToken ct) =>
        tx.WriteAsync(async (db, ct) =>
        {
            var now = NowMs();
            var candidates = await db.Interfaces.Where(i => (i.Flags & (int)IfFlags.Running) != 0
                && !db.TapLeases.Any(l => l.InterfaceId == i.Id && l.ExpiresAt > now)).Select(i => i.Id).ToListAsync(ct);
            if (candidates.Count == 0)
                return 0;
            // Locked, then looked at again: an open that took a lease meanwhile keeps its flag.
            await tx.LockRowsAsync(db, [.. candidates], ct);
            await db.TapLeases.Where(l => candidates.Contains(l.InterfaceId) && l.ExpiresAt <= now).ExecuteDeleteAsync(ct);
            var orphans = await Project(db, db.Interfaces.Where(i => candidates.Contains(i.Id) && (i.Flags & (int)IfFlags.Running) != 0
                && !db.TapLeases.Any(l => l.InterfaceId == i.Id))).ToListAsync(ct);
            foreach (var found in orphans)
                SetRunning(db, found, running: false, bringUp: false);
            return orphans.Count;
        }, ct);

    /// <summary>
    /// At start-up on SQLite, the one process a store has: whatever devices the last run left open
    /// (it was killed) are closed now, not when their leases would run out.
    /// </summary>
    private async Task ClearDevicesLeftOpenAsync(IfDbContext db, CancellationToken ct)
    {
        if (options.Provider != StoreProvider.Sqlite)
            return; // other replicas may have devices open: their leases tell (ExpireLeasesAsync)
        await db.TapLeases.ExecuteDeleteAsync(ct);
        await db.Interfaces.Where(i => (i.Flags & (int)IfFlags.Running) != 0)
            .ExecuteUpdateAsync(s => s.SetProperty(i => i.Flags, i => i.Flags & ~(int)IfFlags.Running).SetProperty(i => i.Version, i => i.Version + 1), ct);
    }

    /// <summary>Sets or clears IFF_RUNNING on a tracked row and announces it; true when IFF_UP came on.</summary>
    private static bool SetRunning(IfDbContext db, Projected found, bool running, bool bringUp)
    {
        var row = found.Row;
        var before = new InterfaceAttributes(row.Name, (IfFlags)row.Flags, row.Mtu, row.Metric, row.Description, row.Lladdr);
        var flags = running ? before.Flags | IfFlags.Running : before.Flags & ~IfFlags.Running;
        if (bringUp)
            flags |= IfFlags.Up;
        if (flags == before.Flags)
            return false;
        row.Flags = (int)flags;
        row.Version++;
        AnnounceChange(db, row.Id, before, before with { Flags = flags });
        return (before.Flags & IfFlags.Up) == 0 && (flags & IfFlags.Up) != 0;
    }

    private static async Task<(Guid Id, string Name)> FindBridgeAsync(IfDbContext db, string reference, CancellationToken ct)
    {
        var b = await ByReference(db.Interfaces.AsNoTracking(), reference).Select(i => new { i.Id, i.Name, i.Kind }).FirstOrDefaultAsync(ct)
            ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'");
        if (b.Kind != InterfaceKind.Bridge.WireName())
            throw new IfError(Errno.EOPNOTSUPP, $"'{b.Name}' is not a bridge");
        return (b.Id, b.Name);
    }

    /// <summary>As <c>bridge_ioctl_add</c>'s <c>ifunit</c>: an unknown member is ENOENT.</summary>
    private static async Task<(Guid Id, string Name, string Kind)> FindMemberAsync(IfDbContext db, string reference, string ioctl, CancellationToken ct)
    {
        var m = await ByReference(db.Interfaces.AsNoTracking(), reference).Select(i => new { i.Id, i.Name, i.Kind }).FirstOrDefaultAsync(ct)
            ?? throw new IfError(Errno.ENOENT, $"no interface '{reference}'", ioctl);
        return (m.Id, m.Name, m.Kind);
    }

    /// <summary>The bridge (with its members) and the member, read again under their row locks.</summary>
    private static async Task<(Projected Bridge, InterfaceRow Member)> LockedPairAsync(IfDbContext db, Guid bridgeId, Guid memberId,
        string bridge, string member, string ioctl, CancellationToken ct)
    {
        var b = await Project(db, db.Interfaces.Where(i => i.Id == bridgeId)).FirstOrDefaultAsync(ct)
            ?? throw new IfError(Errno.ENXIO, $"no interface '{bridge}'", ioctl); // destroyed meanwhile
        var m = await db.Interfaces.FirstOrDefaultAsync(i => i.Id == memberId, ct)
            ?? throw new IfError(Errno.ENOENT, $"no interface '{member}'", ioctl);
        return (b, m);
    }

    /// <summary>
    /// Bridges that lost members to interfaces deleted in this transaction (<c>bridge_ifdetach</c>),
    /// after the delete: each remaining one's version moves and its members are announced.
    /// </summary>
    private static async Task LeaveBridgesAsync(IfDbContext db, IReadOnlyCollection<Guid> bridges, CancellationToken ct)
    {
        foreach (var b in bridges)
        {
            if (await Project(db, db.Interfaces.Where(i => i.Id == b)).FirstOrDefaultAsync(ct) is { } bridge)
            {
                bridge.Row.Version++;
                AnnounceMembers(db, bridge);
            }
        }
    }

    private static IQueryable<string> MembersOf(IfDbContext db, Guid bridge) =>
        db.Interfaces.Where(m => m.BridgeId == bridge).OrderBy(m => m.Index).Select(m => m.Name);

    /// <summary>RTM_IFINFO for the bridge: its member list changed.</summary>
    private static void AnnounceMembers(IfDbContext db, Projected bridge) =>
        Outbox.Add(db, new InterfaceChange(bridge.Row.Id, bridge.Row.Name, new AttributeChanges { Members = bridge.Members }));
}
