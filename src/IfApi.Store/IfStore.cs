using IfApi.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace IfApi.Store;

/// <summary>
/// The store seam: every cloning operation as one transaction. Lock story: units and indexes are
/// claimed row by row (<see cref="StoredUnitPool"/>), so creates, also on one cloner, never wait for
/// each other's commits; a cloner's detach locks its row, which every create of one of its clones
/// holds shared through its foreign key, so a detach and the creates on its cloner take turns;
/// interface rows are locked before group locks (<see cref="StoreDialect.LockRowsAsync"/>).
/// </summary>
public sealed partial class IfStore(TransactionRunner tx, IInterfaceWatcher watcher, StoreOptions options,
    UnitPoolExtender extender, ILogger<IfStore> log)
{
    // ---- cloners -------------------------------------------------------------------------------

    /// <summary><c>if_clone_list</c>: total and up to <paramref name="limit"/> cloners, newest first.</summary>
    public Task<(int Total, IReadOnlyList<ClonerInfo> Cloners)> ListClonersAsync(int? limit, CancellationToken ct)
    {
        if (limit < 0)
            throw new IfError(Errno.EINVAL, "limit must not be negative", Ioctl.IfGClone);
        return tx.ReadAsync(async (db, ct) =>
        {
            var total = await db.Cloners.CountAsync(ct);
            var rows = await ClonerQuery(db, db.Cloners).Take(limit ?? int.MaxValue).ToListAsync(ct);
            return (total, (IReadOnlyList<ClonerInfo>)rows.ConvertAll(ToInfo));
        }, ct);
    }

    public Task<ClonerInfo> GetClonerAsync(string name, CancellationToken ct) =>
        tx.ReadAsync(async (db, ct) =>
        {
            var row = await ClonerQuery(db, db.Cloners.Where(c => c.Name == name)).FirstOrDefaultAsync(ct)
                ?? throw new IfError(Errno.ENOENT, $"no cloner named '{name}'");
            return ToInfo(row);
        }, ct);

    /// <summary><c>if_clone_attach</c>, then the cloner's minIfs units, as <c>if_clone_simple</c> does.</summary>
    public Task<ClonerInfo> AttachClonerAsync(ClonerSpec spec, CancellationToken ct) =>
        tx.WriteAsync(async (db, ct) =>
        {
            if (await db.Cloners.AnyAsync(c => c.Name == spec.Name, ct))
                throw new IfError(Errno.EEXIST, $"cloner '{spec.Name}' exists", Ioctl.CloneAttach);
            await AttachAsync(db, spec, ct);
            Outbox.Add(db, new ClonerAttach(spec.Name, spec.Kind.WireName()));
            return ToInfo(new ClonerCount { Row = ToRow(spec), Interfaces = spec.MinIfs * (spec.Kind == InterfaceKind.Epair ? 2 : 1) });
        }, ct);

    /// <summary><c>if_clone_detach</c>: every clone is destroyed (minIfs ones too), then the cloner.</summary>
    public async Task DetachClonerAsync(string name, CancellationToken ct)
    {
        var gone = await tx.WriteAsync(async (db, ct) =>
        {
            // Creates of its clones hold the row shared (their foreign key) until they commit: the
            // detach waits for them, and creates after it find the cloner gone.
            await StoreDialect.LockClonerAsync(db, options.Provider, name, ct);
            var cloner = await db.Cloners.FirstOrDefaultAsync(c => c.Name == name, ct)
                ?? throw new IfError(Errno.ENOENT, $"no cloner named '{name}'", Ioctl.CloneDetach);
            // Delete exactly the clones whose indexes are freed below; one destroyed meanwhile makes
            // the transaction run again rather than free its index twice.
            var clones = await db.Interfaces.Where(i => i.Cloner == name).Select(i => new { i.Id, i.Index, i.Name, i.Unit }).ToListAsync(ct);
            var ids = clones.ConvertAll(c => c.Id);
            await tx.LockRowsAsync(db, [.. ids], ct); // a group call on them now waits, then finds them gone
            var held = await db.GroupMembers.Where(g => ids.Contains(g.InterfaceId)).Select(g => new Membership(g.InterfaceId, g.Group)).ToListAsync(ct);
            var (groups, announceGroups) = await LeaveGroupsAsync(db, clones.ConvertAll(c => (c.Id, c.Name, cloner.NoGroup ? null : (string?)name)), held, ct);
            var bridges = await db.Interfaces.Where(i => ids.Contains(i.Id) && i.BridgeId != null).Select(i => i.BridgeId!.Value).Distinct().ToListAsync(ct);
            if (await db.Interfaces.Where(i => ids.Contains(i.Id)).ExecuteDeleteAsync(ct) != ids.Count)
                throw new RaceLostException($"a clone of '{name}' was destroyed while the cloner was being detached");
            await db.FreeUnits.Where(u => u.Pool == name).ExecuteDeleteAsync(ct);
            await db.UnitPools.Where(u => u.Pool == name).ExecuteDeleteAsync(ct);
            db.FreeUnits.AddRange(clones.Select(c => new FreeUnitRow { Pool = Pools.Ifindex, Unit = c.Index })); // with the commit
            db.Cloners.Remove(cloner);
            foreach (var c in clones)
                AnnounceDeparture(db, c.Id, c.Name, c.Index, name, c.Unit, groups[c.Id]);
            announceGroups(db);
            await LeaveBridgesAsync(db, bridges, ct);
            Outbox.Add(db, new ClonerDetach(name));
            log.LogInformation("cloner {Cloner} detached with {Count} interfaces", name, clones.Count);
            return ids;
        }, ct);
        await watcher.ChangedAsync(gone, ct);
    }

    // ---- interfaces ----------------------------------------------------------------------------

    /// <summary>
    /// SIOCIFCREATE2 (<c>ifc_create_ifp</c> → <c>if_clone_createif</c>): pick the cloner by its
    /// matcher, refuse a name in use, allocate the unit, then the index, and insert the interface
    /// (both ends for epair) with its groups. Returns the interface created (the a-end for epair).
    /// </summary>
    /// <param name="key">With an <c>Idempotency-Key</c>: a retry of a create that committed gets that
    /// create's interface back (<c>Replayed</c>) and creates nothing; the key is stored by the create's
    /// own transaction, so a create that did not commit left no key either.</param>
    public async Task<(InterfaceInfo Interface, bool Replayed)> CreateAsync(string name, CreateParams? p, IdempotencyKey? key, CancellationToken ct)
    {
        string? cloner = null; // for the metrics: known once the name matched a cloner
        try
        {
            var created = await CreateAsync(name, p, key, matched => cloner = matched, ct);
            StoreMetrics.Created(created.Interface.Cloner, null);
            return created;
        }
        catch (IfError e)
        {
            StoreMetrics.Created(cloner, e.Errno);
            throw;
        }
    }

    private async Task<(InterfaceInfo Interface, bool Replayed)> CreateAsync(string name, CreateParams? p, IdempotencyKey? key,
        Action<string> matched, CancellationToken ct)
    {
        IfNames.Validate(name, Ioctl.IfCreate);
        return await tx.WriteAsync(async (db, ct) =>
        {
            if (key is not null && await ReplayAsync(db, key, ct) is { } earlier)
                return (earlier, true);
            var (seqs, match, taken) = await MatchAsync(db, name, ct);
            if (match is null)
                throw new IfError(Errno.EINVAL, $"no cloner matches '{name}'", Ioctl.IfCreate);
            matched(match.Cloner.Name);
            if (taken)
                throw new IfError(Errno.EEXIST, $"interface '{name}' exists", Ioctl.IfCreate);

            var created = match switch
            {
                VlanDotMatch v => await CreateDottedVlanAsync(db, v, name, p, ct),
                UnitMatch u => await CreateUnitAsync(db, u, p, ct, clonerSeq: seqs[u.Cloner.Name]),
                _ => throw new InvalidOperationException(match.GetType().Name),
            };
            // Everything the answer shows is in memory already: no read-back.
            var info = ToInfo(new Projected { Row = created.Row, Groups = created.Row.Groups.ConvertAll(g => g.Group), Peer = created.Peer, Parent = created.Parent });
            if (key is not null)
                await RememberAsync(db, key, info, ct);
            return (info, false);
        }, ct);
    }

    /// <summary>The interface an earlier create with this key made, or null; the key with another request is refused.</summary>
    private static async Task<InterfaceInfo?> ReplayAsync(IfDbContext db, IdempotencyKey key, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var kept = await db.IdempotencyKeys.AsNoTracking().FirstOrDefaultAsync(k => k.Key == key.Key && k.ExpiresAt > now, ct);
        if (kept is null)
            return null;
        if (kept.RequestHash != key.RequestHash)
            throw new IfError(Errno.EEXIST, "this Idempotency-Key was used with another request", Ioctl.IfCreate);
        return System.Text.Json.JsonSerializer.Deserialize<InterfaceInfo>(kept.Result, Outbox.Json);
    }

    /// <summary>
    /// Keeps the key with the create. Two requests with one key at once both get here; the key's
    /// primary key makes the second one's transaction run again, and then it replays the first.
    /// </summary>
    private static async Task RememberAsync(IfDbContext db, IdempotencyKey key, InterfaceInfo info, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        // A lapsed key gives way to this one; all others past their day go with it.
        var nowMs = now.ToUnixTimeMilliseconds();
        await db.IdempotencyKeys.Where(k => k.ExpiresAt <= nowMs).ExecuteDeleteAsync(ct);
        db.IdempotencyKeys.Add(new IdempotencyRow
        {
            Key = key.Key,
            RequestHash = key.RequestHash,
            Result = System.Text.Json.JsonSerializer.Serialize(info, Outbox.Json),
            ExpiresAt = (now + IdempotencyKey.Lifetime).ToUnixTimeMilliseconds(),
        });
    }

    /// <summary>SIOCIFDESTROY (<c>if_clone_destroy</c>): the unit and index are freed and groups left in the same transaction.</summary>
    /// <param name="ifMatch">With <c>If-Match</c>, the versions the interface may be at (see <see cref="PatchAsync"/>).</param>
    public async Task DestroyAsync(string reference, IReadOnlySet<long>? ifMatch, CancellationToken ct)
    {
        string? cloner = null; // for the metrics: known once the interface was found
        try
        {
            cloner = await DestroyAsync(reference, ifMatch, found => cloner = found, ct);
            StoreMetrics.Destroyed(cloner, null);
        }
        catch (IfError e)
        {
            StoreMetrics.Destroyed(cloner, e.Errno);
            throw;
        }
    }

    /// <returns>The cloner of the interface destroyed.</returns>
    private async Task<string?> DestroyAsync(string reference, IReadOnlySet<long>? ifMatch, Action<string?> found, CancellationToken ct)
    {
        var gone = await tx.WriteAsync(async (db, ct) =>
        {
            // Its row (and its epair peer's) locked, and read with all its departure needs: a group
            // or bridge call on it now waits for the destroy, then finds it gone.
            var target = await DestroyTargets.ReadLockedAsync(db, reference, ct)
                ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'", Ioctl.IfDestroy);
            found(target.Cloner);
            CheckVersion(target.Name, target.Version, ifMatch);
            if (target.Cloner is null)
                throw new IfError(Errno.EINVAL, $"'{target.Name}' was not created by a cloner", Ioctl.IfDestroy);
            if (target.Unit is int unit && unit < target.MinIfs)
                throw new IfError(Errno.EINVAL, $"'{target.Name}' is one of its cloner's minimum interfaces", Ioctl.IfDestroy);

            // Both ends of an epair go together, as epair_clone_destroy does.
            var ends = target.Peer is { } peer ? new[] { target.End, peer } : [target.End];
            var clonerGroup = target.NoGroup ? null : target.Cloner;
            var (groups, announceGroups) = await LeaveGroupsAsync(db, ends.Select(e => (e.Id, e.Name, clonerGroup)).ToList(), target.Memberships, ct);
            foreach (var end in ends)
            {
                // Its group memberships go with it (the foreign key's cascade).
                var row = new InterfaceRow { Id = end.Id, Name = end.Name, Kind = "", Version = end.Version };
                db.Interfaces.Attach(row);
                db.Interfaces.Remove(row);
                db.FreeUnits.Add(new FreeUnitRow { Pool = Pools.Ifindex, Unit = end.Index });
            }
            if (target.Unit is int u)
                db.FreeUnits.Add(new FreeUnitRow { Pool = target.Cloner, Unit = u });
            var bridges = ends.Select(e => e.Bridge).OfType<Guid>().Distinct().ToList();
            if (bridges.Count > 0)
                await db.SaveChangesAsync(ct); // the bridges' member lists, read next, must not hold it
            await LeaveBridgesAsync(db, bridges, ct);
            foreach (var end in ends)
                AnnounceDeparture(db, end.Id, end.Name, end.Index, target.Cloner, target.Unit, groups[end.Id]);
            announceGroups(db);
            return (Ids: ends.Select(e => e.Id).ToArray(), target.Cloner);
        }, ct);
        await watcher.ChangedAsync(gone.Ids, ct);
        return gone.Cloner;
    }

    /// <summary>
    /// SIOCSIFNAME, SIOCSIFDESCR, SIOCSIFMTU, SIOCSIFFLAGS, SIOCSIFMETRIC, SIOCSIFLLADDR in one
    /// transaction, all or nothing. A patch that changes nothing (the same name included) leaves the
    /// version alone. Two patches of one interface at once: the second to commit finds the version
    /// moved (a concurrency check on it), runs again on what the first left, and with an
    /// <paramref name="ifMatch"/> fails the precondition instead.
    /// </summary>
    public async Task<InterfaceInfo> PatchAsync(string reference, InterfacePatch patch, IReadOnlySet<long>? ifMatch, CancellationToken ct)
    {
        var (info, changed) = await tx.WriteAsync(async (db, ct) =>
        {
            var found = await Project(db, ByReference(db.Interfaces, reference)).FirstOrDefaultAsync(ct)
                ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'", patch.FirstIoctl);
            var row = found.Row;
            CheckVersion(row, ifMatch);
            var before = new InterfaceAttributes(row.Name, (IfFlags)row.Flags, row.Mtu, row.Metric, row.Description, row.Lladdr);
            var after = patch.Apply(before, Kinds.Parse(row.Kind));
            if (after == before)
                return (ToInfo(found), false);
            if (after.Name != before.Name && await db.Interfaces.AnyAsync(i => i.Name == after.Name, ct))
                throw new IfError(Errno.EEXIST, $"interface '{after.Name}' exists", Ioctl.SetName);
            (row.Name, row.Flags, row.Mtu, row.Metric, row.Description, row.Lladdr) =
                (after.Name, (int)after.Flags, after.Mtu, after.Metric, after.Description, after.Lladdr);
            row.Version++;
            AnnounceChange(db, row.Id, before, after);
            log.LogInformation("interface {Name} changed ({Before} → {After})", before.Name, before, after);
            return (ToInfo(found), true);
        }, ct);
        if (changed)
            await watcher.ChangedAsync([info.Id], ct);
        return info;
    }

    /// <summary>SIOCGIFGROUP: the groups of one interface, <c>all</c> first.</summary>
    public Task<IReadOnlyList<string>> GetGroupsOfAsync(string reference, CancellationToken ct) =>
        tx.ReadAsync(async (db, ct) =>
        {
            var found = await ByReference(db.Interfaces.AsNoTracking(), reference)
                .Select(i => new { Groups = i.Groups.Select(g => g.Group).ToList() })
                .FirstOrDefaultAsync(ct)
                ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'", Ioctl.GetGroups);
            return (IReadOnlyList<string>)OrderGroups(found.Groups);
        }, ct);

    /// <summary>
    /// SIOCAIFGROUP (<c>if_addgroup</c>): joins the group, creating it with its first member. Already
    /// a member: EEXIST, or with <paramref name="idempotent"/> nothing happens and the answer says so.
    /// </summary>
    public Task<(bool Added, InterfaceInfo Interface)> AddGroupAsync(string reference, string group, bool idempotent, IReadOnlySet<long>? ifMatch, CancellationToken ct)
    {
        GroupNames.Validate(group, Ioctl.AddGroup);
        return tx.WriteAsync(async (db, ct) =>
        {
            var found = await LockForGroupAsync(db, reference, group, Ioctl.AddGroup, ct);
            CheckVersion(found.Row, ifMatch);
            if (found.Groups.Contains(group))
            {
                return idempotent
                    ? (false, ToInfo(found))
                    : throw new IfError(Errno.EEXIST, $"'{found.Row.Name}' is in group '{group}' already", Ioctl.AddGroup);
            }
            var begins = !await db.GroupMembers.AnyAsync(g => g.Group == group, ct);
            db.GroupMembers.Add(new GroupMemberRow { InterfaceId = found.Row.Id, Group = group });
            found.Row.Version++;
            if (begins)
                Outbox.Add(db, new GroupAttach(group));
            AnnounceMembership(db, found.Row.Id, found.Row.Name, group, member: true);
            found.Groups.Add(group);
            return (true, ToInfo(found));
        }, ct);
    }

    /// <summary>SIOCDIFGROUP (<c>if_delgroup</c>): leaves the group, which ends with its last member. Leaving <c>all</c> is allowed, as in the kernel.</summary>
    public Task<InterfaceInfo> RemoveGroupAsync(string reference, string group, IReadOnlySet<long>? ifMatch, CancellationToken ct)
    {
        GroupNames.Validate(group, Ioctl.DeleteGroup);
        return tx.WriteAsync(async (db, ct) =>
        {
            var found = await LockForGroupAsync(db, reference, group, Ioctl.DeleteGroup, ct);
            CheckVersion(found.Row, ifMatch);
            if (!found.Groups.Remove(group))
                throw new IfError(Errno.ENOENT, $"'{found.Row.Name}' is not in group '{group}'", Ioctl.DeleteGroup);
            await db.GroupMembers.Where(g => g.InterfaceId == found.Row.Id && g.Group == group).ExecuteDeleteAsync(ct);
            found.Row.Version++;
            if (!await db.GroupMembers.AnyAsync(g => g.Group == group, ct))
                Outbox.Add(db, new GroupDetach(group));
            AnnounceMembership(db, found.Row.Id, found.Row.Name, group, member: false);
            return ToInfo(found);
        }, ct);
    }

    /// <summary>
    /// Finds the interface, then locks its row and the group, in that order (<see cref="StoreDialect.LockRowsAsync"/>),
    /// and reads it again as it is now: whether the change begins or ends the group is then certain.
    /// </summary>
    private async Task<Projected> LockForGroupAsync(IfDbContext db, string reference, string group, string ioctl, CancellationToken ct)
    {
        var id = await ByReference(db.Interfaces.AsNoTracking(), reference).Select(i => (Guid?)i.Id).FirstOrDefaultAsync(ct)
            ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'", ioctl);
        await tx.LockRowsAsync(db, [id], ct);
        await tx.LockGroupAsync(db, group, ct);
        return await Project(db, db.Interfaces.Where(i => i.Id == id)).FirstOrDefaultAsync(ct)
            ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'", ioctl); // destroyed meanwhile
    }

    /// <summary><c>group_change_event</c>: an interface joined or left a group.</summary>
    private static void AnnounceMembership(IfDbContext db, Guid id, string name, string group, bool member) =>
        Outbox.Add(db, new GroupChange(group, id, name, member));

    /// <summary>
    /// <c>if_delgroups</c> for interfaces about to be destroyed, whose rows the caller locked and whose
    /// memberships (<paramref name="held"/>) it read under that lock: locks the groups they were put in
    /// by group calls (sorted), and leaves every group. Returns, per interface, the groups
    /// it was in (for its departure) and the group events to announce after it. The groups creation
    /// put it in (<c>all</c>, and its cloner's unless the cloner is noGroup) are left silently: its
    /// departure says so. Call under the cloner's pool lock, before the rows are deleted.
    /// </summary>
    private async Task<(Dictionary<Guid, string[]> Groups, Action<IfDbContext> Announce)> LeaveGroupsAsync(
        IfDbContext db, IReadOnlyList<(Guid Id, string Name, string? ClonerGroup)> leaving, IReadOnlyList<Membership> held, CancellationToken ct)
    {
        var ids = leaving.Select(l => l.Id).ToArray();
        var byId = leaving.ToDictionary(l => l.Id);
        var called = held.Where(m => m.Group != GroupNames.All && m.Group != byId[m.InterfaceId].ClonerGroup).ToList();
        var groups = called.Select(m => m.Group).Distinct().Order(StringComparer.Ordinal).ToList();
        foreach (var g in groups)
            await tx.LockGroupAsync(db, g, ct);
        if (groups.Count > 0) // to tell which groups end; otherwise they go with the rows
            await db.GroupMembers.Where(g => ids.Contains(g.InterfaceId)).ExecuteDeleteAsync(ct);
        var stillHeld = groups.Count == 0 ? []
            : await db.GroupMembers.Where(m => groups.Contains(m.Group)).Select(m => m.Group).Distinct().ToListAsync(ct);
        var ended = groups.Except(stillHeld, StringComparer.Ordinal).ToHashSet(StringComparer.Ordinal);
        var of = leaving.ToDictionary(l => l.Id, l => OrderGroups(held.Where(m => m.InterfaceId == l.Id).Select(m => m.Group)));
        return (of, db =>
        {
            // As _if_delgroup: the member whose leaving ends the group announces the end, then its leaving.
            foreach (var group in called.GroupBy(m => m.Group).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var members = group.ToList();
                for (var i = 0; i < members.Count; i++)
                {
                    if (i == members.Count - 1 && ended.Contains(group.Key))
                        Outbox.Add(db, new GroupDetach(group.Key));
                    AnnounceMembership(db, members[i].InterfaceId, byId[members[i].InterfaceId].Name, group.Key, member: false);
                }
            }
        });
    }

    /// <summary>Every group with its members' names (a group exists while it has members).</summary>
    public Task<IReadOnlyList<GroupInfo>> ListGroupsAsync(CancellationToken ct) =>
        tx.ReadAsync(async (db, ct) =>
        {
            var rows = await db.GroupMembers.AsNoTracking()
                .Join(db.Interfaces, g => g.InterfaceId, i => i.Id, (g, i) => new { g.Group, i.Name, i.Index })
                .OrderBy(x => x.Group).ThenBy(x => x.Index)
                .ToListAsync(ct);
            return (IReadOnlyList<GroupInfo>)rows.GroupBy(r => r.Group, StringComparer.Ordinal)
                .Select(g => new GroupInfo(g.Key, g.Select(x => x.Name).ToList()))
                .OrderBy(g => g.Name, StringComparer.Ordinal)
                .ToList();
        }, ct);

    /// <summary>SIOCGIFGMEMB: the members of one group, by index; ENOENT when it has none.</summary>
    public Task<GroupInfo> GetGroupAsync(string group, CancellationToken ct) =>
        tx.ReadAsync(async (db, ct) =>
        {
            var members = await db.GroupMembers.AsNoTracking().Where(g => g.Group == group)
                .Join(db.Interfaces, g => g.InterfaceId, i => i.Id, (g, i) => i)
                .OrderBy(i => i.Index).Select(i => i.Name)
                .ToListAsync(ct);
            return members.Count > 0
                ? new GroupInfo(group, members)
                : throw new IfError(Errno.ENOENT, $"no group '{group}'", Ioctl.GetGroupMembers);
        }, ct);

    /// <summary>
    /// What the routing socket would say about a patch: a rename, a link going up or down, and the
    /// other attributes that changed, each as its own event.
    /// </summary>
    private static void AnnounceChange(IfDbContext db, Guid id, InterfaceAttributes before, InterfaceAttributes after)
    {
        if (after.Name != before.Name)
            Outbox.Add(db, new InterfaceRename(id, before.Name, after.Name));
        var wasUp = (before.Flags & IfFlags.Up) != 0;
        var isUp = (after.Flags & IfFlags.Up) != 0;
        if (wasUp != isUp)
            Outbox.Add(db, isUp ? new LinkUp(id, after.Name) : new LinkDown(id, after.Name));
        var changes = AttributeChanges.Between(before, after);
        if (changes.Any)
            Outbox.Add(db, new InterfaceChange(id, after.Name, changes));
    }

    private static void CheckVersion(InterfaceRow row, IReadOnlySet<long>? ifMatch) => CheckVersion(row.Name, row.Version, ifMatch);

    private static void CheckVersion(string name, long version, IReadOnlySet<long>? ifMatch)
    {
        if (ifMatch is not null && !ifMatch.Contains(version))
            throw new PreconditionFailedException($"'{name}' is at version {version}, which If-Match does not name");
    }

    public Task<InterfaceInfo> GetAsync(string reference, CancellationToken ct) =>
        tx.ReadAsync(async (db, ct) =>
        {
            var found = await Project(db, ByReference(db.Interfaces.AsNoTracking(), reference)).FirstOrDefaultAsync(ct)
                ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'", Ioctl.IfGet);
            return ToInfo(found);
        }, ct);

    /// <summary>SIOCGIFCONF: ordered by index, keyset-paginated on it (an interface's index never changes).</summary>
    public Task<InterfacePage> ListAsync(string? cloner, string? group, int limit, int afterIndex, CancellationToken ct) =>
        tx.ReadAsync(async (db, ct) =>
        {
            var q = db.Interfaces.AsNoTracking().Where(i => i.Index > afterIndex);
            if (cloner is not null)
                q = q.Where(i => i.Cloner == cloner);
            if (group is not null)
                q = q.Where(i => i.Groups.Any(g => g.Group == group));
            var rows = await Project(db, q.OrderBy(i => i.Index).Take(limit + 1)).ToListAsync(ct);
            var more = rows.Count > limit;
            if (more)
                rows.RemoveAt(rows.Count - 1);
            var items = rows.ConvertAll(ToInfo);
            return new InterfacePage(items, more ? items[^1].Index : null);
        }, ct);

    // ---- start-up ------------------------------------------------------------------------------

    /// <summary>
    /// At first start: the index pool and the built-in cloners with their minIfs interfaces. On every
    /// start: the configured static interfaces that are missing. Safe to race from several replicas.
    /// </summary>
    public Task BootstrapAsync(IReadOnlyList<string> staticInterfaces, CancellationToken ct)
    {
        foreach (var name in staticInterfaces)
            IfNames.Validate(name); // a bad configuration stops start-up before any write
        return tx.WriteAsync(async (db, ct) =>
        {
            await tx.LockAsync(db, Pools.Bootstrap, ct);
            if (!await db.Meta.AnyAsync(m => m.Key == "bootstrapped", ct))
            {
                await UnitPoolExtender.CreatePoolAsync(db, Pools.Ifindex, 1, int.MaxValue, ct);
                foreach (var spec in ClonerSpec.BuiltIn)
                    await AttachAsync(db, spec, ct, UnitPoolExtender.InPlace);
                db.Meta.Add(new MetaRow { Key = "bootstrapped", Value = DateTimeOffset.UtcNow.ToString("O") });
                log.LogInformation("first start: attached cloners {Cloners}", string.Join(", ", ClonerSpec.BuiltIn.Select(c => c.Name)));
            }
            foreach (var name in staticInterfaces)
            {
                if (await db.Interfaces.AnyAsync(i => i.Name == name, ct))
                    continue;
                var row = NewRow(name, InterfaceKind.Ether, cloner: null, unit: null,
                    await AllocIndexAsync(db, ct, UnitPoolExtender.InPlace), InterfaceKind.Ether.NewLladdr());
                row.Groups.Add(new GroupMemberRow { Group = GroupNames.All });
                db.Interfaces.Add(row);
                AnnounceArrival(db, row);
                await db.SaveChangesAsync(ct);
                log.LogInformation("static interface {Name} attached", name);
            }
            await ClearDevicesLeftOpenAsync(db, ct);
            return true;
        }, ct);
    }

    // ---- the steps -----------------------------------------------------------------------------

    /// <summary>
    /// The cloner list and whether the name is taken (one round trip), then the cloner whose matcher
    /// takes the name, with every cloner's <see cref="ClonerRow.Seq"/> as read.
    /// </summary>
    private static async Task<(Dictionary<string, long> Seqs, CloneMatch? Match, bool Taken)> MatchAsync(
        IfDbContext db, string name, CancellationToken ct)
    {
        var rows = await db.Cloners.AsNoTracking().OrderByDescending(c => c.Seq)
            .Select(c => new { Cloner = c, Taken = db.Interfaces.Any(i => i.Name == name) })
            .ToListAsync(ct);
        var match = await ClonerMatcher.MatchAsync(rows.Select(r => ToSpec(r.Cloner)), name,
            async (n, ct) => await db.Interfaces.AnyAsync(i => i.Name == n, ct), ct);
        return (rows.ToDictionary(r => r.Cloner.Name, r => r.Cloner.Seq), match, rows.Count > 0 && rows[0].Taken);
    }

    /// <param name="indexes">How the index pool makes rows for fresh indexes: in place when this
    /// transaction made it (the first start).</param>
    private async Task AttachAsync(IfDbContext db, ClonerSpec spec, CancellationToken ct, UnitPoolExtender? indexes = null)
    {
        db.Cloners.Add(ToRow(spec));
        await db.SaveChangesAsync(ct);
        await UnitPoolExtender.CreatePoolAsync(db, spec.Name, 0, spec.MaxUnit, ct);
        for (var unit = 0; unit < spec.MinIfs; unit++)
        {
            await CreateUnitAsync(db, new UnitMatch(spec, unit.ToString(System.Globalization.CultureInfo.InvariantCulture)), null, ct, Ioctl.CloneAttach,
                units: UnitPoolExtender.InPlace, indexes: indexes);
            if (unit % 256 == 255)
            {
                // Thousands of minIfs units: write them in slices and forget them, so the change
                // tracker, which every range look-up consults, stays small.
                await db.SaveChangesAsync(ct);
                db.ChangeTracker.Clear();
            }
        }
        await db.SaveChangesAsync(ct);
    }

    private sealed record Created(InterfaceRow Row, string? Peer = null, string? Parent = null);

    /// <param name="clonerSeq">The cloner as matched: if it has been detached and attached anew
    /// since, the allocation notices and the transaction runs again.</param>
    /// <param name="units">How the cloner's pool makes rows for fresh units: in place when this
    /// transaction made it (an attach's minIfs).</param>
    /// <param name="indexes">The same for the index pool.</param>
    private async Task<Created> CreateUnitAsync(IfDbContext db, UnitMatch m, CreateParams? p, CancellationToken ct,
        string ioctl = Ioctl.IfCreate, long? clonerSeq = null, UnitPoolExtender? units = null, UnitPoolExtender? indexes = null)
    {
        var cloner = m.Cloner;
        if (!IfNames.TryParseUnit(m.UnitText, out var requested, out var err))
            throw new IfError(err, $"bad unit number in '{cloner.Name}{m.UnitText}'", ioctl);

        var (lladdr, vlan, parent) = await CheckParamsAsync(db, cloner.Kind, p, ct);

        int? index = null; // claimed with the first probe, where the store can do both in one round trip
        var unit = await UnitAllocator.AllocateAsync(Pool(db, cloner.Name, units), requested, cloner.MaxUnit,
            async (u, ct) =>
            {
                var (seq, held, claimed) = await CreateProbes.ProbeAsync(db, cloner.Name, cloner.NamesHeldByUnit(u),
                    claimIndex: index is null && indexes is null, ct);
                index ??= claimed;
                if (seq is null || clonerSeq is not null && seq != clonerSeq)
                    throw new RaceLostException($"cloner '{cloner.Name}' changed while this transaction used it");
                return held;
            }, ct, ioctl);

        var names = cloner.InterfaceNames(unit);
        var first = NewRow(names[0], cloner.Kind, cloner.Name, unit, index ?? await AllocIndexAsync(db, ct, indexes),
            lladdr ?? (parent?.Lladdr) ?? cloner.Kind.NewLladdr('a'));
        AddGroups(first, cloner);
        if (vlan is int tag && parent is not null)
            (first.VlanTag, first.ParentId) = (tag, parent.Id);
        db.Interfaces.Add(first);

        AnnounceArrival(db, first);
        if (cloner.Kind == InterfaceKind.Epair)
        {
            var second = NewRow(names[1], cloner.Kind, cloner.Name, unit, await AllocIndexAsync(db, ct, indexes), cloner.Kind.NewLladdr('b'));
            AddGroups(second, cloner);
            (first.PeerId, second.PeerId) = (second.Id, first.Id);
            db.Interfaces.Add(second);
            AnnounceArrival(db, second);
            return new Created(first, Peer: second.Name);
        }
        return new Created(first, Parent: parent?.Name);
    }

    /// <summary>A dotted vlan (<c>tap0.100</c>) has no unit of its cloner's, as in <c>vlan_clone_create</c>.</summary>
    private async Task<Created> CreateDottedVlanAsync(IfDbContext db, VlanDotMatch m, string name, CreateParams? p, CancellationToken ct)
    {
        if (m.Tag is not int tag)
            throw new IfError(Errno.EINVAL, $"vlan tag must be between {ClonerMatcher.MinVlanTag} and {ClonerMatcher.MaxVlanTag}", Ioctl.IfCreate);
        if (p is { Vlan: not null } or { Parent: not null } or { Lladdr: not null })
            throw new IfError(Errno.EINVAL, $"'{name}' names its parent and tag; params are for plain vlan names", Ioctl.IfCreate);
        var parent = await ParentAsync(db, m.Parent, ct);
        // It takes no unit, but it is one of the cloner's clones: its foreign key holds the cloner
        // against a detach.
        var row = NewRow(name, InterfaceKind.Vlan, m.Cloner.Name, unit: null, await AllocIndexAsync(db, ct), parent.Lladdr);
        (row.VlanTag, row.ParentId) = (tag, parent.Id);
        AddGroups(row, m.Cloner);
        db.Interfaces.Add(row);
        AnnounceArrival(db, row);
        return new Created(row, Parent: parent.Name);
    }

    private static async Task<(string? Lladdr, int? Vlan, InterfaceRow? Parent)> CheckParamsAsync(
        IfDbContext db, InterfaceKind kind, CreateParams? p, CancellationToken ct)
    {
        if (p is null)
            return (null, null, null);
        var lladdr = CheckLladdr(kind, p);
        if (p.Vlan is null && p.Parent is null)
            return (lladdr, null, null);
        if (kind != InterfaceKind.Vlan)
            throw new IfError(Errno.EOPNOTSUPP, $"params.vlan and params.parent are for vlan interfaces, not {kind.WireName()}", Ioctl.IfCreate);
        if (p.Vlan is not int tag || p.Parent is null)
            throw new IfError(Errno.EINVAL, "params.vlan and params.parent go together", Ioctl.IfCreate);
        if (tag is < ClonerMatcher.MinVlanTag or > ClonerMatcher.MaxVlanTag)
            throw new IfError(Errno.EINVAL, $"vlan tag must be between {ClonerMatcher.MinVlanTag} and {ClonerMatcher.MaxVlanTag}", Ioctl.IfCreate);
        return (lladdr, tag, await ParentAsync(db, p.Parent, ct));
    }

    /// <summary>params.lladdr, canonical; only tap takes one.</summary>
    private static string? CheckLladdr(InterfaceKind kind, CreateParams? p)
    {
        if (p?.Lladdr is null)
            return null;
        if (kind != InterfaceKind.Tap)
            throw new IfError(Errno.EOPNOTSUPP, $"params.lladdr is not supported by {kind.WireName()} interfaces", Ioctl.IfCreate);
        if (!Lladdr.TryParse(p.Lladdr, out var canonical) || !Lladdr.IsUnicast(canonical))
            throw new IfError(Errno.EINVAL, "params.lladdr must be a unicast Ethernet address like f2:0b:a4:00:00:01", Ioctl.IfCreate);
        return canonical;
    }

    /// <summary>vlan_clone_create: the parent must exist (ENXIO) and carry Ethernet frames.</summary>
    private static async Task<InterfaceRow> ParentAsync(IfDbContext db, string name, CancellationToken ct)
    {
        var parent = await db.Interfaces.AsNoTracking().FirstOrDefaultAsync(i => i.Name == name, ct)
            ?? throw new IfError(Errno.ENXIO, $"no parent interface '{name}'", Ioctl.IfCreate);
        if (!Kinds.Parse(parent.Kind).IsEthernet())
            throw new IfError(Errno.EOPNOTSUPP, $"'{name}' is not an Ethernet interface", Ioctl.IfCreate);
        return parent;
    }

    private async Task<int> AllocIndexAsync(IfDbContext db, CancellationToken ct, UnitPoolExtender? extension = null) =>
        await UnitAllocator.AllocateAsync(Pool(db, Pools.Ifindex, extension), null, int.MaxValue,
            static (_, _) => ValueTask.FromResult(false), ct);

    private StoredUnitPool Pool(IfDbContext db, string pool, UnitPoolExtender? extension = null) =>
        new(db, options.Provider, pool, extension ?? extender);

    /// <summary>IFAN_ARRIVAL.</summary>
    private static void AnnounceArrival(IfDbContext db, InterfaceRow row) =>
        Outbox.Add(db, new InterfaceArrival(row.Id, row.Name, row.Index, row.Kind, row.Cloner, row.Unit, OrderGroups(row.Groups.Select(g => g.Group))));

    /// <summary>IFAN_DEPARTURE, with the groups the interface left.</summary>
    private static void AnnounceDeparture(IfDbContext db, Guid id, string name, int index, string cloner, int? unit, string[] groups) =>
        Outbox.Add(db, new InterfaceDeparture(id, name, index, cloner, unit, groups));

    private static InterfaceRow NewRow(string name, InterfaceKind kind, string? cloner, int? unit, int index, string? lladdr) => new()
    {
        Id = Guid.CreateVersion7(),
        Index = index,
        Name = name,
        Kind = kind.WireName(),
        Cloner = cloner,
        Unit = unit,
        Flags = (int)kind.DefaultFlags(),
        Mtu = kind.DefaultMtu(),
        Lladdr = lladdr,
        CreatedAt = DateTimeOffset.UtcNow,
        Version = 1,
    };

    /// <summary>if_attach puts every interface in <c>all</c>; if_clone_addif adds the cloner's group unless IFC_NOGROUP.</summary>
    private static void AddGroups(InterfaceRow row, ClonerSpec cloner)
    {
        row.Groups.Add(new GroupMemberRow { InterfaceId = row.Id, Group = GroupNames.All });
        // A cloner named "all": if_clone_createif ignores if_addgroup's EEXIST, and so do we.
        if (!cloner.NoGroup && cloner.Name != GroupNames.All)
            row.Groups.Add(new GroupMemberRow { InterfaceId = row.Id, Group = cloner.Name });
    }

    // ---- reads ---------------------------------------------------------------------------------

    /// <summary><c>{ref}</c>: an id when it parses as one, otherwise a name.</summary>
    private static IQueryable<InterfaceRow> ByReference(IQueryable<InterfaceRow> q, string reference) =>
        Guid.TryParse(reference, out var id) ? q.Where(i => i.Id == id) : q.Where(i => i.Name == reference);


    private static readonly string BridgeKind = InterfaceKind.Bridge.WireName();

    private sealed class Projected
    {
        public required InterfaceRow Row { get; init; }
        public required List<string> Groups { get; init; }
        public string? Peer { get; init; }
        public string? Parent { get; init; }
        /// <summary>A bridge's members by index; empty for every other kind.</summary>
        public List<string>? Members { get; init; }
    }

    private static IQueryable<Projected> Project(IfDbContext db, IQueryable<InterfaceRow> q) =>
        q.Select(i => new Projected
        {
            Row = i,
            Groups = i.Groups.Select(g => g.Group).ToList(),
            Peer = db.Interfaces.Where(p => p.Id == i.PeerId).Select(p => p.Name).FirstOrDefault(),
            Parent = db.Interfaces.Where(p => p.Id == i.ParentId).Select(p => p.Name).FirstOrDefault(),
            Members = db.Interfaces.Where(m => m.BridgeId == i.Id).OrderBy(m => m.Index).Select(m => m.Name).ToList(),
        });

    private static InterfaceInfo ToInfo(Projected p)
    {
        var i = p.Row;
        var groups = OrderGroups(p.Groups);
        return new InterfaceInfo(i.Id, i.Index, i.Name, Kinds.Parse(i.Kind), i.Cloner, i.Unit, (IfFlags)i.Flags, i.Mtu, i.Metric,
            i.Description, i.Lladdr, groups, i.CreatedAt, i.Version, p.Peer, i.VlanTag, p.Parent,
            i.Kind == BridgeKind ? (IReadOnlyList<string>?)p.Members ?? [] : null);
    }

    /// <summary><c>all</c> first, then the rest in a stable order.</summary>
    private static string[] OrderGroups(IEnumerable<string> groups) =>
        groups.OrderBy(g => g == GroupNames.All ? 0 : 1).ThenBy(g => g, StringComparer.Ordinal).ToArray();

    private sealed class ClonerCount
    {
        public required ClonerRow Row { get; init; }
        public int Interfaces { get; init; }
    }

    private static IQueryable<ClonerCount> ClonerQuery(IfDbContext db, IQueryable<ClonerRow> q) =>
        q.AsNoTracking().OrderByDescending(c => c.Seq)
            .Select(c => new ClonerCount { Row = c, Interfaces = db.Interfaces.Count(i => i.Cloner == c.Name) });

    private static ClonerInfo ToInfo(ClonerCount c) =>
        new(c.Row.Name, Kinds.Parse(c.Row.Kind), c.Row.MaxUnit, true, c.Row.NoGroup, c.Row.MinIfs, c.Interfaces);

    private static ClonerSpec ToSpec(ClonerRow r) => new(r.Name, Kinds.Parse(r.Kind), r.MaxUnit, r.NoGroup, r.MinIfs);

    private static ClonerRow ToRow(ClonerSpec s) => new()
    {
        Name = s.Name,
        Kind = s.Kind.WireName(),
        MaxUnit = s.MaxUnit,
        NoGroup = s.NoGroup,
        MinIfs = s.MinIfs,
        AttachedAt = DateTimeOffset.UtcNow,
    };
}
