using System.Text.Json;
using IfApi.Domain;
using IfApi.Store;
using Microsoft.Extensions.Logging;

namespace IfApi.Application;

/// <summary>
/// Interfaces: create (SIOCIFCREATE2), destroy (SIOCIFDESTROY), change (SIOCSIF*), get and list
/// (SIOCGIFCONF), each one transaction. Lock story: units and indexes are claimed row by row, so
/// creates, also on one cloner, never wait for each other's commits; a cloner's detach locks its row,
/// which every create of one of its clones holds shared through its foreign key, so a detach and the
/// creates on its cloner take turns; interface rows are locked before group locks.
/// </summary>
/// <param name="actor">On every write: the API key whose request it is, written into its events.</param>
public sealed class InterfaceService(TransactionRunner tx, ILinkObserver links, ILogger<InterfaceService> log)
{
    /// <summary>How remembered answers are kept.</summary>
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// <c>ifc_create_ifp</c> → <c>if_clone_createif</c>: pick the cloner by its matcher, refuse a name
    /// in use, allocate the unit, then the index, and insert the interface (both ends for epair) with
    /// its groups. Returns the interface created (the a-end for epair).
    /// </summary>
    /// <param name="key">With an <c>Idempotency-Key</c>: a retry of a create that committed gets that
    /// create's interface back (<c>Replayed</c>) and creates nothing; the key is stored by the create's
    /// own transaction, so a create that did not commit left no key either.</param>
    public async Task<(InterfaceInfo Interface, bool Replayed)> CreateAsync(string name, CreateParams? p, IdempotencyKey? key, string? actor,
        CancellationToken ct)
    {
        string? cloner = null; // for the metrics: known once the name matched a cloner
        try
        {
            IfNames.Validate(name, Ioctl.IfCreate);
            return await tx.WriteAsync(actor, async (s, ct) =>
            {
                // Counted once it committed: a create in a batch refused later, or in a dry run, created nothing.
                if (key is not null && await ReplayAsync(s, key, ct) is { } earlier)
                    return Counted(s, (earlier, true));
                var cloners = await s.ClonersForCreateAsync(name, ct);
                var match = await MatchAsync(s, cloners, name, ct);
                if (match is null && cloners.Cached)
                    match = await MatchAsync(s, cloners = await s.ClonersForCreateAsync(name, ct, fresh: true), name, ct); // attached since?
                if (match is null)
                {
                    // A vnet has its built-in cloners until it is deleted: none at all may mean it was,
                    // on another replica, since this one last saw it.
                    if (cloners.Rows.Count == 0 && !await s.VnetExistsAsync(s.Vnet, ct))
                        throw new IfError(Errno.ENXIO, $"no vnet '{s.Vnet}'", Ioctl.IfCreate);
                    throw new IfError(Errno.EINVAL, $"no cloner matches '{name}'", Ioctl.IfCreate);
                }
                cloner = match.Cloner.Name;
                s.ExpectNameFree(cloners, () => new IfError(Errno.EEXIST, $"interface '{name}' exists", Ioctl.IfCreate));
                var clone = match switch
                {
                    VlanDotMatch v => await Cloning.CreateDottedVlanAsync(s, v, name, p, ct),
                    UnitMatch u => await Cloning.CreateUnitAsync(s, u, p, ct, clonerSeq: cloners.Rows.First(c => c.Name == u.Cloner.Name).Seq),
                    _ => throw new InvalidOperationException(match.GetType().Name),
                };
                var info = clone.Info(); // no read-back
                if (key is not null)
                    await RememberAsync(s, key, info, ct);
                return Counted(s, (info, false));
            }, ct);
        }
        catch (IfError e)
        {
            UseCaseMetrics.Created(cloner, e.Errno);
            throw;
        }
    }

    private static (InterfaceInfo, bool) Counted(StoreSession s, (InterfaceInfo Interface, bool Replayed) created)
    {
        s.AfterCommit(_ =>
        {
            UseCaseMetrics.Created(created.Interface.Cloner, null);
            return Task.CompletedTask;
        });
        return created;
    }

    private static ValueTask<CloneMatch?> MatchAsync(StoreSession s, ClonerList cloners, string name, CancellationToken ct) =>
        ClonerMatcher.MatchAsync(cloners.Rows.Select(Views.ToSpec), name, async (n, ct) => await s.NameTakenAsync(n, ct), ct);

    /// <summary>The interface an earlier create with this key made, or null; the key with another request is refused.</summary>
    private static async Task<InterfaceInfo?> ReplayAsync(StoreSession s, IdempotencyKey key, CancellationToken ct) =>
        await Remembered.RecallAsync(s, key, Ioctl.IfCreate, ct) is { } kept ? JsonSerializer.Deserialize<InterfaceInfo>(kept, Json) : null;

    private static Task RememberAsync(StoreSession s, IdempotencyKey key, InterfaceInfo info, CancellationToken ct) =>
        Remembered.KeepAsync(s, key, JsonSerializer.Serialize(info, Json), ct);

    /// <summary>What an earlier create with <paramref name="key"/> answered (inside a batch: the batch's view), or null.</summary>
    public Task<InterfaceInfo?> ReplayAsync(IdempotencyKey key, CancellationToken ct) => tx.ReadAsync((s, ct) => ReplayAsync(s, key, ct), ct);

    /// <summary>Keeps <paramref name="info"/> as the answer to <paramref name="key"/> (inside a batch: with it).</summary>
    public Task RememberAsync(IdempotencyKey key, InterfaceInfo info, CancellationToken ct) =>
        tx.WriteAsync(null, async (s, ct) =>
        {
            await RememberAsync(s, key, info, ct);
            return true;
        }, ct);

    /// <summary>SIOCIFDESTROY (<c>if_clone_destroy</c>): the unit and index are freed and groups left in the same transaction.</summary>
    /// <param name="ifMatch">With <c>If-Match</c>, the versions the interface may be at.</param>
    public Task DestroyAsync(string reference, IReadOnlySet<long>? ifMatch, string? actor, CancellationToken ct) =>
        CountedDestroyAsync(actor, (s, found, ct) => DestroyAsync(s, reference, ifMatch, found, ct), ct);

    /// <summary>
    /// SIOCIFDESTROY of the interface with this id in whichever vnet it is now: the cloning device's tap
    /// goes when its socket closes, even after a move. Its row is locked first, so it cannot move away meanwhile.
    /// </summary>
    public Task DestroyWhereverAsync(Guid id, string? actor, CancellationToken ct) =>
        CountedDestroyAsync(actor, async (s, found, ct) =>
        {
            await s.LockInterfacesAsync([id], ct);
            var vnet = await s.VnetOfAsync(id, ct) ?? throw new IfError(Errno.ENXIO, $"no interface '{id}'", Ioctl.IfDestroy);
            using (s.Enter(vnet))
                await DestroyAsync(s, id.ToString(), null, found, ct);
        }, ct);

    /// <param name="destroy">The destroy, which tells the cloner (for the metrics) once it found the interface.</param>
    private async Task CountedDestroyAsync(string? actor, Func<StoreSession, Action<string?>, CancellationToken, Task> destroy, CancellationToken ct)
    {
        string? cloner = null; // for the metrics: known once the interface was found
        try
        {
            await tx.WriteAsync(actor, async (s, ct) =>
            {
                await destroy(s, c => cloner = c, ct);
                var destroyed = cloner;
                s.AfterCommit(_ =>
                {
                    UseCaseMetrics.Destroyed(destroyed, null); // once it committed, as a create is
                    return Task.CompletedTask;
                });
                return true;
            }, ct);
        }
        catch (IfError e)
        {
            UseCaseMetrics.Destroyed(cloner, e.Errno);
            throw;
        }
    }

    /// <summary>The destroy itself, in the session's vnet.</summary>
    private async Task DestroyAsync(StoreSession s, string reference, IReadOnlySet<long>? ifMatch, Action<string?> found, CancellationToken ct)
    {
        // Its row (and its epair peer's) locked, and read with all its departure needs: a group
        // or bridge call on it now waits for the destroy, then finds it gone.
        var target = await s.DestroyTargetAsync(reference, ct)
            ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'", Ioctl.IfDestroy);
        found(target.Cloner);
        Views.CheckVersion(target.Name, target.Version, ifMatch);
        if (target.Cloner is null)
            throw new IfError(Errno.EINVAL, $"'{target.Name}' was not created by a cloner", Ioctl.IfDestroy);
        if (target.Unit is int unit && unit < target.MinIfs)
            throw new IfError(Errno.EINVAL, $"'{target.Name}' is one of its cloner's minimum interfaces", Ioctl.IfDestroy);

        // Both ends of an epair go together, as epair_clone_destroy does, each from the vnet it is in.
        var ends = target.Peer is { } peer ? new[] { target.End, peer } : [target.End];
        await DepartAsync(s, ends, target.Cloner, target.NoGroup, _ => target.Unit, target.Memberships, ct);
        // Its unit goes back to its home vnet's cloner (ifc_find_cloner_in_vnet(if_dname, if_home_vnet)).
        if (target.Unit is int u)
        {
            using (s.Enter(target.HomeVnet))
                s.FreeUnit(target.Cloner, u);
        }
        var gone = ends.Select(e => e.Id).ToArray();
        s.AfterCommit(ct => links.ChangedAsync(gone, ct).AsTask());
    }

    /// <summary>
    /// <c>if_detach</c> of interfaces being destroyed whose rows the caller locked, each in the vnet it
    /// is in: groups and bridge left, row deleted, index freed, departure announced (its unit is the caller's).
    /// </summary>
    internal static async Task DepartAsync(StoreSession s, IReadOnlyList<DestroyedEnd> ends, string cloner, bool noGroup, Func<Guid, int?> unitOf,
        IReadOnlyList<Membership> held, CancellationToken ct)
    {
        var clonerGroup = noGroup ? null : cloner;
        // Every end's bridge at once, before any group lock of any vnet.
        await Departures.LockBridgesAsync(s, ends.Select(e => e.Bridge).OfType<Guid>().Distinct().ToArray(), ct);
        foreach (var inVnet in ends.GroupBy(e => e.Vnet))
        {
            using var entered = s.Enter(inVnet.Key);
            var here = inVnet.ToList();
            var ids = here.Select(e => e.Id).ToHashSet();
            var bridges = here.Select(e => e.Bridge).OfType<Guid>().Distinct().ToArray();
            var (groups, announceGroups) = await Departures.LeaveGroupsAsync(s, here.ConvertAll(e => (e.Id, e.Name, clonerGroup)),
                held.Where(m => ids.Contains(m.InterfaceId)).ToList(), ct);
            foreach (var end in here)
            {
                s.Delete(end.Id, end.Version);
                s.FreeUnit(Pools.Ifindex, end.Index); // with the commit: nobody reuses it before
            }
            if (bridges.Length > 0)
                await s.SaveAsync(ct); // the bridges' member lists, read next, must not hold it
            await Departures.LeaveBridgesAsync(s, bridges, ct);
            foreach (var end in here)
                Announce.Departure(s, end.Id, end.Name, end.Index, cloner, unitOf(end.Id), groups[end.Id]);
            announceGroups(s);
        }
    }

    /// <summary>
    /// SIOCSIFNAME, SIOCSIFDESCR, SIOCSIFMTU, SIOCSIFFLAGS, SIOCSIFMETRIC, SIOCSIFLLADDR in one
    /// transaction, all or nothing. A patch that changes nothing (the same name included) leaves the
    /// version alone. Two patches of one interface at once: the second to commit finds the version
    /// moved (a concurrency check on it), runs again on what the first left, and with an
    /// <paramref name="ifMatch"/> fails the precondition instead.
    /// </summary>
    public Task<InterfaceInfo> PatchAsync(string reference, InterfacePatch patch, IReadOnlySet<long>? ifMatch, string? actor, CancellationToken ct)
    {
        return tx.WriteAsync(actor, async (s, ct) =>
        {
            var found = await s.ViewForChangeAsync(reference, ct)
                ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'", patch.FirstIoctl);
            var row = found.Row;
            Views.CheckVersion(row, ifMatch);
            var before = Views.Attributes(row);
            var after = patch.Apply(before, Kinds.Parse(row.Kind));
            if (after == before)
                return Views.ToInfo(found);
            if (after.Name != before.Name && await s.NameTakenAsync(after.Name, ct))
                throw new IfError(Errno.EEXIST, $"interface '{after.Name}' exists", Ioctl.SetName);
            (row.Name, row.Flags, row.Mtu, row.Metric, row.Description, row.Lladdr) =
                (after.Name, (int)after.Flags, after.Mtu, after.Metric, after.Description, after.Lladdr);
            row.Version++;
            Announce.Change(s, row.Id, before, after);
            log.LogInformation("interface {Name} changed ({Before} → {After})", before.Name, before, after);
            s.AfterCommit(ct => links.ChangedAsync([row.Id], ct).AsTask());
            return Views.ToInfo(found);
        }, ct);
    }

    /// <summary>
    /// SIOCSIFVNET (<c>if_vmove_loan</c>, and <c>if_vmove_reclaim</c> asked from the child's side): moves
    /// the interface from the vnet at hand to <paramref name="target"/>. Unknown target: ENXIO; the same
    /// vnet, or its name taken there: EEXIST; the target full: ENOSPC. Who may move is the caller's to check.
    /// </summary>
    public Task<InterfaceInfo> MoveAsync(string reference, string target, IReadOnlySet<long>? ifMatch, string? actor, CancellationToken ct) =>
        tx.WriteAsync(actor, async (s, ct) =>
        {
            var id = (await s.BriefAsync(reference, ct))?.Id ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'", Ioctl.SetVnet);
            await s.LockInterfacesAsync([id], ct);
            var row = (await s.ViewForChangeAsync(id, ct))?.Row
                ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'", Ioctl.SetVnet); // moved or destroyed meanwhile
            Views.CheckVersion(row, ifMatch);
            if (!Vnets.IsValid(target) || !await s.VnetExistsAsync(target, ct))
                throw new IfError(Errno.ENXIO, $"no vnet '{target}'", Ioctl.SetVnet);
            if (target == s.Vnet)
                throw new IfError(Errno.EEXIST, $"'{row.Name}' is in vnet '{target}' already", Ioctl.SetVnet);
            var touched = await Moving.MoveAsync(s, row, target, ct);
            log.LogInformation("interface {Name} moved from vnet {From} to {To}", row.Name, s.Vnet, target);
            s.AfterCommit(ct => links.ChangedAsync(touched, ct).AsTask());
            await s.SaveAsync(ct);
            using (s.Enter(target))
                return Views.ToInfo(await s.ViewAsync(id.ToString(), ct) ?? throw new InvalidOperationException("a moved interface is in its target"));
        }, ct);

    /// <summary>
    /// Holds <paramref name="name"/> for the rest of the batch this runs in: an upsert of the same name
    /// elsewhere, on any replica, waits for it, then finds what it made.
    /// </summary>
    public Task LockNameAsync(string name, CancellationToken ct) =>
        tx.WriteAsync(null, async (s, ct) =>
        {
            await s.LockAsync("interface-name:" + name, ct);
            return true;
        }, ct);

    /// <summary>The interface by name or id, or null when there is none.</summary>
    public Task<InterfaceInfo?> FindAsync(string reference, CancellationToken ct) =>
        tx.ReadAsync(async (s, ct) => await s.ViewAsync(reference, ct) is { } v ? Views.ToInfo(v) : null, ct);

    public Task<InterfaceInfo> GetAsync(string reference, CancellationToken ct) =>
        tx.ReadAsync(async (s, ct) => Views.ToInfo(await s.ViewAsync(reference, ct)
            ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'", Ioctl.IfGet)), ct);

    /// <summary>SIOCGIFCONF: ordered by index, keyset-paginated on it (an interface's index never changes).</summary>
    public Task<InterfacePage> ListAsync(string? cloner, string? group, int limit, int afterIndex, CancellationToken ct) =>
        tx.ReadAsync(async (s, ct) =>
        {
            var rows = await s.ListAsync(cloner, group, limit + 1, afterIndex, ct);
            var more = rows.Count > limit;
            if (more)
                rows.RemoveAt(rows.Count - 1);
            var items = rows.ConvertAll(Views.ToInfo);
            return new InterfacePage(items, more ? items[^1].Index : null);
        }, ct);
}
