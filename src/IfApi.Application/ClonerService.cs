using IfApi.Domain;
using IfApi.Store;
using Microsoft.Extensions.Logging;

namespace IfApi.Application;

/// <summary>Cloners: list (<c>if_clone_list</c>), get, attach (<c>if_clone_attach</c>) and detach (<c>if_clone_detach</c>).</summary>
public sealed class ClonerService(TransactionRunner tx, ILinkObserver links, ILogger<ClonerService> log)
{
    /// <summary><c>if_clone_list</c>: total and up to <paramref name="limit"/> cloners, newest first.</summary>
    public Task<(int Total, IReadOnlyList<ClonerInfo> Cloners)> ListAsync(int? limit, CancellationToken ct)
    {
        if (limit < 0)
            throw new IfError(Errno.EINVAL, "limit must not be negative", Ioctl.IfGClone);
        return tx.ReadAsync(async (s, ct) =>
        {
            var total = await s.CountClonersAsync(ct);
            var rows = await s.ClonersAsync(null, limit ?? int.MaxValue, ct);
            return (total, (IReadOnlyList<ClonerInfo>)rows.ConvertAll(Views.ToInfo));
        }, ct);
    }

    public Task<ClonerInfo> GetAsync(string name, CancellationToken ct) =>
        tx.ReadAsync(async (s, ct) => (await s.ClonersAsync(name, 1, ct)) is [var c]
            ? Views.ToInfo(c)
            : throw new IfError(Errno.ENOENT, $"no cloner named '{name}'"), ct);

    /// <summary><c>if_clone_attach</c>, then the cloner's minIfs units, as <c>if_clone_simple</c> does.</summary>
    public Task<ClonerInfo> AttachAsync(ClonerSpec spec, string? actor, CancellationToken ct) =>
        tx.WriteAsync(actor, async (s, ct) =>
        {
            if (await s.ClonerExistsAsync(spec.Name, ct))
                throw new IfError(Errno.EEXIST, $"cloner '{spec.Name}' exists", Ioctl.CloneAttach);
            var row = await AttachAsync(s, spec, indexesMadeHere: false, ct);
            s.Announce(new ClonerAttach(spec.Name, spec.Kind.WireName()));
            return Views.ToInfo(new ClonerView(row, spec.MinIfs * (spec.Kind == InterfaceKind.Epair ? 2 : 1)));
        }, ct);

    /// <summary>The cloner's row, its pool of units and its minIfs interfaces.</summary>
    internal static async Task<ClonerRow> AttachAsync(StoreSession s, ClonerSpec spec, bool indexesMadeHere, CancellationToken ct)
    {
        var row = Views.ToRow(spec);
        await s.AddClonerAsync(row, ct);
        await s.SaveAsync(ct);
        await s.CreatePoolAsync(spec.Name, 0, spec.MaxUnit, ct);
        await Cloning.CreateMinIfsAsync(s, spec, indexesMadeHere, ct);
        return row;
    }

    /// <summary><c>if_clone_detach</c>: every clone is destroyed (minIfs ones too), then the cloner.</summary>
    public async Task DetachAsync(string name, string? actor, CancellationToken ct)
    {
        await tx.WriteAsync(actor, async (s, ct) =>
        {
            // Creates of its clones hold the row shared (their foreign key) until they commit: the
            // detach waits for them, and creates after it find the cloner gone.
            await s.LockClonerAsync(name, ct);
            var cloner = await s.FindClonerAsync(name, ct)
                ?? throw new IfError(Errno.ENOENT, $"no cloner named '{name}'", Ioctl.CloneDetach);
            // Delete exactly the clones whose indexes are freed below; one destroyed meanwhile makes
            // the transaction run again rather than free its index twice.
            var clones = await s.ClonesOfAsync(name, ct);
            var ids = clones.ConvertAll(c => c.Id);
            await s.LockInterfacesAsync([.. ids], ct); // a group call on them now waits, then finds them gone
            var held = await s.MembershipsAsync(ids, ct);
            var (groups, announceGroups) = await Departures.LeaveGroupsAsync(s,
                clones.ConvertAll(c => (c.Id, c.Name, cloner.NoGroup ? null : (string?)name)), held, ct);
            var bridges = await s.BridgesOfAsync(ids, ct);
            await s.DeleteNowAsync(ids, ct);
            await s.DropPoolAsync(name, ct);
            foreach (var c in clones)
                s.FreeUnit(Pools.Ifindex, c.Index); // with the commit
            s.RemoveCloner(cloner);
            foreach (var c in clones)
                Announce.Departure(s, c.Id, c.Name, c.Index, name, c.Unit, groups[c.Id]);
            announceGroups(s);
            await Departures.LeaveBridgesAsync(s, bridges, ct);
            s.Announce(new ClonerDetach(name));
            log.LogInformation("cloner {Cloner} detached with {Count} interfaces", name, clones.Count);
            s.AfterCommit(ct => links.ChangedAsync(ids, ct).AsTask());
            return ids;
        }, ct);
    }
}
