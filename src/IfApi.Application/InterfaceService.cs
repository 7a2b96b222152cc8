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
            var created = await tx.WriteAsync(actor, async (s, ct) =>
            {
                if (key is not null && await ReplayAsync(s, key, ct) is { } earlier)
                    return (earlier, true);
                var cloners = await s.ClonersForCreateAsync(name, ct);
                var match = await MatchAsync(s, cloners, name, ct);
                if (match is null && cloners.Cached)
                    match = await MatchAsync(s, cloners = await s.ClonersForCreateAsync(name, ct, fresh: true), name, ct); // attached since?
                if (match is null)
                    throw new IfError(Errno.EINVAL, $"no cloner matches '{name}'", Ioctl.IfCreate);
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
                return (info, false);
            }, ct);
            UseCaseMetrics.Created(created.Item1.Cloner, null);
            return created;
        }
        catch (IfError e)
        {
            UseCaseMetrics.Created(cloner, e.Errno);
            throw;
        }
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
    public async Task DestroyAsync(string reference, IReadOnlySet<long>? ifMatch, string? actor, CancellationToken ct)
    {
        string? cloner = null; // for the metrics: known once the interface was found
        try
        {
            await tx.WriteAsync(actor, async (s, ct) =>
            {
                // Its row (and its epair peer's) locked, and read with all its departure needs: a group
                // or bridge call on it now waits for the destroy, then finds it gone.
                var target = await s.DestroyTargetAsync(reference, ct)
                    ?? throw new IfError(Errno.ENXIO, $"no interface '{reference}'", Ioctl.IfDestroy);
                cloner = target.Cloner;
                Views.CheckVersion(target.Name, target.Version, ifMatch);
                if (target.Cloner is null)
                    throw new IfError(Errno.EINVAL, $"'{target.Name}' was not created by a cloner", Ioctl.IfDestroy);
                if (target.Unit is int unit && unit < target.MinIfs)
                    throw new IfError(Errno.EINVAL, $"'{target.Name}' is one of its cloner's minimum interfaces", Ioctl.IfDestroy);

                // Both ends of an epair go together, as epair_clone_destroy does.
                var ends = target.Peer is { } peer ? new[] { target.End, peer } : [target.End];
                var clonerGroup = target.NoGroup ? null : target.Cloner;
                var (groups, announceGroups) = await Departures.LeaveGroupsAsync(s, ends.Select(e => (e.Id, e.Name, clonerGroup)).ToList(),
                    target.Memberships, ct);
                foreach (var end in ends)
                {
                    s.Delete(end.Id, end.Version);
                    s.FreeUnit(Pools.Ifindex, end.Index); // with the commit: nobody reuses it before
                }
                if (target.Unit is int u)
                    s.FreeUnit(target.Cloner, u);
                var bridges = ends.Select(e => e.Bridge).OfType<Guid>().Distinct().ToList();
                if (bridges.Count > 0)
                    await s.SaveAsync(ct); // the bridges' member lists, read next, must not hold it
                await Departures.LeaveBridgesAsync(s, bridges, ct);
                foreach (var end in ends)
                    Announce.Departure(s, end.Id, end.Name, end.Index, target.Cloner, target.Unit, groups[end.Id]);
                announceGroups(s);
                var gone = ends.Select(e => e.Id).ToArray();
                s.AfterCommit(ct => links.ChangedAsync(gone, ct).AsTask());
                return gone;
            }, ct);
            UseCaseMetrics.Destroyed(cloner, null);
        }
        catch (IfError e)
        {
            UseCaseMetrics.Destroyed(cloner, e.Errno);
            throw;
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
