using IfApi.Domain;
using Microsoft.EntityFrameworkCore;

namespace IfApi.Store;

/// <summary>An interface row with what is read beside it: its groups, its epair peer's and vlan parent's names, a bridge's members.</summary>
public sealed class InterfaceView
{
    public required InterfaceRow Row { get; init; }
    public required List<string> Groups { get; init; }
    public string? Peer { get; init; }
    public string? Parent { get; init; }
    /// <summary>A bridge's members by index; empty for every other kind.</summary>
    public List<string>? Members { get; init; }
}

/// <summary>Who an interface is, without the rest of it.</summary>
public sealed record InterfaceBrief(Guid Id, string Name, InterfaceKind Kind);

/// <summary>One membership of an interface in a group, as read.</summary>
public sealed record Membership(Guid InterfaceId, string Group);

/// <summary>An interface being destroyed (or its epair peer, maybe in another vnet), as read under its row lock.</summary>
public sealed record DestroyedEnd(Guid Id, string Name, int Index, long Version, Guid? Bridge, string Vnet);

/// <summary>What a destroy needs of its interface, read with the interface's row (and its peer's) locked.</summary>
/// <param name="HomeVnet">Whose cloner made it: its unit goes back there.</param>
public sealed record DestroyTarget(DestroyedEnd End, DestroyedEnd? Peer, string? Cloner, int? Unit, int? MinIfs, bool NoGroup,
    IReadOnlyList<Membership> Memberships, string HomeVnet)
{
    public string Name => End.Name;
    public long Version => End.Version;
}

/// <summary>A clone of a cloner being detached, in the vnet it is in now.</summary>
public sealed record CloneBrief(DestroyedEnd End, int? Unit);

public sealed partial class StoreSession
{
    // ---- interfaces ----------------------------------------------------------------------------

    /// <summary><c>{ref}</c>: an id when it parses as one, otherwise a name.</summary>
    private static IQueryable<InterfaceRow> ByReference(IQueryable<InterfaceRow> q, string reference) =>
        Guid.TryParse(reference, out var id) ? q.Where(i => i.Id == id) : q.Where(i => i.Name == reference);

    private IQueryable<InterfaceView> View(IQueryable<InterfaceRow> q) =>
        q.Select(i => new InterfaceView
        {
            Row = i,
            Groups = i.Groups.Select(g => g.Group).ToList(),
            Peer = _db.Interfaces.Where(p => p.Id == i.PeerId).Select(p => p.Name).FirstOrDefault(),
            Parent = _db.Interfaces.Where(p => p.Id == i.ParentId).Select(p => p.Name).FirstOrDefault(),
            Members = _db.Interfaces.Where(m => m.BridgeId == i.Id).OrderBy(m => m.Index).Select(m => m.Name).ToList(),
        });

    /// <summary>An interface by id or name, to look at.</summary>
    public Task<InterfaceView?> ViewAsync(string reference, CancellationToken ct) =>
        View(ByReference(_db.Interfaces.AsNoTracking(), reference)).FirstOrDefaultAsync(ct);

    /// <summary>An interface by id or name, to change: its row is tracked and written with the commit.</summary>
    public Task<InterfaceView?> ViewForChangeAsync(string reference, CancellationToken ct) =>
        View(ByReference(_db.Interfaces, reference)).FirstOrDefaultAsync(ct);

    /// <summary>An interface by id in this vnet, to change.</summary>
    public Task<InterfaceView?> ViewForChangeAsync(Guid id, CancellationToken ct) =>
        View(_db.Interfaces.Where(i => i.Id == id)).FirstOrDefaultAsync(ct);

    /// <summary>
    /// An interface by id in whichever vnet it is now, to change (a device that stays open while its
    /// tap moves): work on it in its vnet (<see cref="Enter"/> its <see cref="InterfaceRow.Vnet"/>).
    /// </summary>
    public Task<InterfaceRow?> RowForChangeInAnyVnetAsync(Guid id, CancellationToken ct) =>
        _db.Interfaces.IgnoreQueryFilters().FirstOrDefaultAsync(i => i.Id == id, ct);

    /// <summary>The vnet an interface is in now, or null when there is no such interface.</summary>
    public Task<string?> VnetOfAsync(Guid id, CancellationToken ct) =>
        _db.Interfaces.IgnoreQueryFilters().Where(i => i.Id == id).Select(i => i.Vnet).FirstOrDefaultAsync(ct);

    /// <summary>An interface's row alone, by id, to change.</summary>
    public Task<InterfaceRow?> RowForChangeAsync(Guid id, CancellationToken ct) => _db.Interfaces.FirstOrDefaultAsync(i => i.Id == id, ct);

    public async Task<InterfaceBrief?> BriefAsync(string reference, CancellationToken ct)
    {
        var b = await ByReference(_db.Interfaces.AsNoTracking(), reference).Select(i => new { i.Id, i.Name, i.Kind }).FirstOrDefaultAsync(ct);
        return b is null ? null : new InterfaceBrief(b.Id, b.Name, Kinds.Parse(b.Kind));
    }

    /// <summary>An interface by name, to look at (a vlan's parent).</summary>
    public Task<InterfaceRow?> RowByNameAsync(string name, CancellationToken ct) =>
        _db.Interfaces.AsNoTracking().FirstOrDefaultAsync(i => i.Name == name, ct);

    public Task<bool> NameTakenAsync(string name, CancellationToken ct) => _db.Interfaces.AnyAsync(i => i.Name == name, ct);

    /// <summary>Up to <paramref name="take"/> interfaces past <paramref name="afterIndex"/> by index, of a cloner or group when named.</summary>
    public Task<List<InterfaceView>> ListAsync(string? cloner, string? group, int take, int afterIndex, CancellationToken ct)
    {
        var q = _db.Interfaces.AsNoTracking().Where(i => i.Index > afterIndex);
        if (cloner is not null)
            q = q.Where(i => i.Cloner == cloner);
        if (group is not null)
            q = q.Where(i => i.Groups.Any(g => g.Group == group));
        return View(q.OrderBy(i => i.Index).Take(take)).ToListAsync(ct);
    }

    /// <summary>A new interface, with its group memberships, written with the commit.</summary>
    public void Add(InterfaceRow row)
    {
        row.Vnet = row.HomeVnet = Vnet; // made here, by this vnet's cloner
        foreach (var g in row.Groups)
            g.Vnet = Vnet;
        if (_writes is not null)
            _writes.Add(row);
        else
            _db.Interfaces.Add(row);
    }

    /// <summary>
    /// An interface deleted with the commit, its group memberships with it (the foreign key's
    /// cascade). At another <paramref name="version"/> by then: the transaction runs again.
    /// </summary>
    public void Delete(Guid id, long version)
    {
        if (_writes is not null)
        {
            _writes.Delete(id, version);
            return;
        }
        var row = new InterfaceRow { Id = id, Name = "", Kind = "", Version = version };
        _db.Interfaces.Attach(row);
        _db.Interfaces.Remove(row);
    }

    /// <summary>Deletes interfaces now, every one of them: one deleted meanwhile makes the transaction run again.</summary>
    public async Task DeleteNowAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct)
    {
        if (await _db.Interfaces.IgnoreQueryFilters().Where(i => ids.Contains(i.Id)).ExecuteDeleteAsync(ct) != ids.Count)
            throw new RaceLostException("an interface was deleted by another transaction meanwhile");
    }

    /// <summary>
    /// Reads a destroy's target with its row (and its epair peer's) locked, and the memberships they
    /// hold as of those locks, on PostgreSQL in one round trip (<see cref="DestroyTargets"/>).
    /// </summary>
    public Task<DestroyTarget?> DestroyTargetAsync(string reference, CancellationToken ct) => DestroyTargets.ReadLockedAsync(_db, Vnet, reference, ct);

    /// <summary>A cloner's clones, in whichever vnet each is now (<c>if_home_vnet</c> is this one).</summary>
    public async Task<List<CloneBrief>> ClonesOfAsync(string cloner, CancellationToken ct)
    {
        var vnet = Vnet;
        return (await _db.Interfaces.IgnoreQueryFilters().Where(i => i.HomeVnet == vnet && i.Cloner == cloner)
                .Select(i => new { i.Id, i.Index, i.Name, i.Unit, i.Vnet, i.Version, i.BridgeId }).ToListAsync(ct))
            .ConvertAll(c => new CloneBrief(new DestroyedEnd(c.Id, c.Name, c.Index, c.Version, c.BridgeId, c.Vnet), c.Unit));
    }

    /// <summary>
    /// The interfaces a frame of any of <paramref name="ids"/> can reach, from its wiring as stored:
    /// each one, its epair peer, its bridge, that bridge's members, and so on through them.
    /// </summary>
    public async Task<List<LinkRow>> LinksAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct)
    {
        var found = new Dictionary<Guid, LinkRow>();
        var frontier = ids.Distinct().ToList();
        while (frontier.Count > 0)
        {
            // The frontier's interfaces and, for those that are bridges, their members.
            // In any vnet: an epair's ends may be in two (the one way frames pass between vnets).
            var rows = await _db.Interfaces.AsNoTracking().IgnoreQueryFilters()
                .Where(i => frontier.Contains(i.Id) || (i.BridgeId != null && frontier.Contains(i.BridgeId.Value)))
                .Select(i => new { i.Id, i.Kind, i.Flags, i.Mtu, i.PeerId, i.BridgeId, i.Vnet })
                .ToListAsync(ct);
            var next = new HashSet<Guid>();
            foreach (var r in rows)
            {
                if (found.ContainsKey(r.Id))
                    continue;
                var link = new LinkRow(r.Id, Kinds.Parse(r.Kind), (IfFlags)r.Flags, r.Mtu, r.PeerId, r.BridgeId, r.Vnet);
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
        return found.Values.ToList();
    }

    // ---- bridges -------------------------------------------------------------------------------

    /// <summary>A bridge's members by index.</summary>
    public Task<List<string>> MembersOfAsync(Guid bridge, CancellationToken ct) =>
        _db.Interfaces.Where(m => m.BridgeId == bridge).OrderBy(m => m.Index).Select(m => m.Name).ToListAsync(ct);

    /// <summary>The bridges any of these interfaces is a member of.</summary>
    public Task<List<Guid>> BridgesOfAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct) =>
        _db.Interfaces.IgnoreQueryFilters().Where(i => ids.Contains(i.Id) && i.BridgeId != null).Select(i => i.BridgeId!.Value).Distinct().ToListAsync(ct);

    // ---- groups --------------------------------------------------------------------------------

    /// <summary>The groups of one interface, or null when there is no such interface.</summary>
    public async Task<List<string>?> GroupsOfAsync(string reference, CancellationToken ct) =>
        (await ByReference(_db.Interfaces.AsNoTracking(), reference)
            .Select(i => new { Groups = i.Groups.Select(g => g.Group).ToList() })
            .FirstOrDefaultAsync(ct))?.Groups;

    public Task<List<Membership>> MembershipsAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct) =>
        _db.GroupMembers.IgnoreQueryFilters().Where(g => ids.Contains(g.InterfaceId)).Select(g => new Membership(g.InterfaceId, g.Group)).ToListAsync(ct);

    /// <summary>A membership written with the commit.</summary>
    public void Join(Guid id, string group)
    {
        if (_writes is not null)
            _writes.Join(id, group, Vnet);
        else
            _db.GroupMembers.Add(new GroupMemberRow { InterfaceId = id, Group = group, Vnet = Vnet });
    }

    public Task LeaveAsync(Guid id, string group, CancellationToken ct) =>
        _db.GroupMembers.Where(g => g.InterfaceId == id && g.Group == group).ExecuteDeleteAsync(ct);

    /// <summary>Every membership of these interfaces, gone now.</summary>
    public Task LeaveAllAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct) =>
        _db.GroupMembers.IgnoreQueryFilters().Where(g => ids.Contains(g.InterfaceId)).ExecuteDeleteAsync(ct);

    public Task<bool> GroupHasMembersAsync(string group, CancellationToken ct) => _db.GroupMembers.AnyAsync(g => g.Group == group, ct);

    /// <summary>Those of <paramref name="groups"/> that still have members.</summary>
    public Task<List<string>> GroupsWithMembersAsync(IReadOnlyCollection<string> groups, CancellationToken ct) =>
        _db.GroupMembers.Where(m => groups.Contains(m.Group)).Select(m => m.Group).Distinct().ToListAsync(ct);

    /// <summary>Every membership by group name, then the member's index.</summary>
    public async Task<List<(string Group, string Member)>> AllMembershipsAsync(CancellationToken ct) =>
        (await _db.GroupMembers.AsNoTracking()
            .Join(_db.Interfaces, g => g.InterfaceId, i => i.Id, (g, i) => new { g.Group, i.Name, i.Index })
            .OrderBy(x => x.Group).ThenBy(x => x.Index)
            .ToListAsync(ct)).ConvertAll(x => (x.Group, x.Name));

    /// <summary>A group's members by index.</summary>
    public Task<List<string>> GroupMembersAsync(string group, CancellationToken ct) =>
        _db.GroupMembers.AsNoTracking().Where(g => g.Group == group)
            .Join(_db.Interfaces, g => g.InterfaceId, i => i.Id, (g, i) => i)
            .OrderBy(i => i.Index).Select(i => i.Name)
            .ToListAsync(ct);

    // ---- tap leases ----------------------------------------------------------------------------

    /// <summary>
    /// Takes or renews a device's lease for <paramref name="holder"/> until <paramref name="until"/>, if
    /// it holds it or it ran out by <paramref name="now"/> (a conditional update: two racing for an
    /// expired lease cannot both win). False when there is no such lease to take.
    /// </summary>
    public async Task<bool> TakeLeaseAsync(Guid id, string holder, long now, long until, CancellationToken ct) =>
        await _db.TapLeases.Where(l => l.InterfaceId == id && (l.Holder == holder || l.ExpiresAt <= now))
            .ExecuteUpdateAsync(s => s.SetProperty(l => l.Holder, holder).SetProperty(l => l.ExpiresAt, until), ct) > 0;

    public Task<bool> HasLeaseAsync(Guid id, CancellationToken ct) => _db.TapLeases.AnyAsync(l => l.InterfaceId == id, ct);

    /// <summary>A first lease, written with the commit; another replica's first lease at once collides on its key.</summary>
    public void AddLease(Guid id, string holder, long until) =>
        _db.TapLeases.Add(new TapLeaseRow { InterfaceId = id, Holder = holder, ExpiresAt = until });

    /// <summary>Gives back <paramref name="holder"/>'s lease of a device; false when it held none.</summary>
    public async Task<bool> DropLeaseAsync(Guid id, string holder, CancellationToken ct) =>
        await _db.TapLeases.Where(l => l.InterfaceId == id && l.Holder == holder).ExecuteDeleteAsync(ct) > 0;

    /// <summary>Renews <paramref name="holder"/>'s leases of these devices; returns those it still holds.</summary>
    public async Task<List<Guid>> RenewLeasesAsync(IReadOnlyCollection<Guid> ids, string holder, long until, CancellationToken ct)
    {
        await _db.TapLeases.Where(l => ids.Contains(l.InterfaceId) && l.Holder == holder)
            .ExecuteUpdateAsync(s => s.SetProperty(l => l.ExpiresAt, until), ct);
        return await _db.TapLeases.Where(l => ids.Contains(l.InterfaceId) && l.Holder == holder).Select(l => l.InterfaceId).ToListAsync(ct);
    }

    /// <summary>Interfaces flagged <paramref name="flag"/> with no lease live at <paramref name="now"/>.</summary>
    public Task<List<Guid>> FlaggedWithoutLiveLeaseAsync(IfFlags flag, long now, CancellationToken ct) =>
        _db.Interfaces.IgnoreQueryFilters().Where(i => (i.Flags & (int)flag) != 0 && !_db.TapLeases.Any(l => l.InterfaceId == i.Id && l.ExpiresAt > now))
            .Select(i => i.Id).ToListAsync(ct);

    public Task EndLeasesAsync(IReadOnlyCollection<Guid> ids, long expiredBy, CancellationToken ct) =>
        _db.TapLeases.Where(l => ids.Contains(l.InterfaceId) && l.ExpiresAt <= expiredBy).ExecuteDeleteAsync(ct);

    /// <summary>Of these interfaces, those flagged <paramref name="flag"/> with no lease at all, to change.</summary>
    public Task<List<InterfaceView>> FlaggedWithoutLeaseForChangeAsync(IReadOnlyCollection<Guid> ids, IfFlags flag, CancellationToken ct) =>
        View(_db.Interfaces.IgnoreQueryFilters().Where(i => ids.Contains(i.Id) && (i.Flags & (int)flag) != 0 && !_db.TapLeases.Any(l => l.InterfaceId == i.Id)))
            .ToListAsync(ct);

    /// <summary>Every lease gone, and <paramref name="flag"/> cleared on every interface (moving its version).</summary>
    public async Task EndAllLeasesAsync(IfFlags flag, CancellationToken ct)
    {
        await _db.TapLeases.ExecuteDeleteAsync(ct);
        await _db.Interfaces.IgnoreQueryFilters().Where(i => (i.Flags & (int)flag) != 0)
            .ExecuteUpdateAsync(s => s.SetProperty(i => i.Flags, i => i.Flags & ~(int)flag).SetProperty(i => i.Version, i => i.Version + 1), ct);
    }
}

/// <summary>One interface's links as stored: what the frame path is wired from.</summary>
/// <param name="Peer">The other end of an epair.</param>
/// <param name="Bridge">The bridge it is a member of.</param>
/// <param name="Vnet">The vnet it is in.</param>
public sealed record LinkRow(Guid Id, InterfaceKind Kind, IfFlags Flags, int Mtu, Guid? Peer, Guid? Bridge, string Vnet);
