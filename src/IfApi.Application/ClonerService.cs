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
            return Views.ToInfo(new ClonerView(row, spec.MinIfsInterfaces));
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
            var ids = await DetachAsync(s, cloner, ct);
            log.LogInformation("cloner {Cloner} detached with {Count} interfaces", name, ids.Count);
            s.AfterCommit(ct => links.ChangedAsync(ids, ct).AsTask());
            return ids;
        }, ct);
    }

    /// <summary>
    /// A cloner of the session's vnet detached, in the caller's transaction: its clones, wherever they
    /// are now (moved ones too), each depart from their vnet. One changed or destroyed meanwhile makes
    /// the transaction run again rather than free its index twice. Returns the clones.
    /// </summary>
    internal static async Task<List<Guid>> DetachAsync(StoreSession s, ClonerRow cloner, CancellationToken ct)
    {
        var clones = await s.ClonesOfAsync(cloner.Name, ct);
        var ids = clones.ConvertAll(c => c.End.Id);
        await s.LockInterfacesAsync([.. ids], ct); // a group call on them now waits, then finds them gone
        var held = await s.MembershipsAsync(ids, ct);
        var units = clones.ToDictionary(c => c.End.Id, c => c.Unit);
        await InterfaceService.DepartAsync(s, clones.ConvertAll(c => c.End), cloner.Name, cloner.NoGroup, id => units[id], held, ct);
        await s.SaveAsync(ct); // the clones go before their cloner
        await s.DropPoolAsync(cloner.Name, ct);
        s.RemoveCloner(cloner);
        s.Announce(new ClonerDetach(cloner.Name));
        return ids;
    }
}
