using IfApi.Domain;
using IfApi.Store;
using Microsoft.Extensions.Logging;

namespace IfApi.Application;

/// <summary>A vnet as the API shows it.</summary>
public sealed record VnetInfo(string Name, int Interfaces, int MaxInterfaces, DateTimeOffset CreatedAt);

/// <summary>What vnets get unless they ask: <c>Vnets:MaxInterfaces</c>.</summary>
public sealed class VnetOptions
{
    public const string Section = "Vnets";

    /// <summary>How many interfaces a new vnet may hold (its index pool's size).</summary>
    public int MaxInterfaces { get; set; } = Vnets.DefaultMaxInterfaces;
}

/// <summary>
/// Virtual network stacks (VIMAGE): made with their own cloners, unit pools, index pool, groups and
/// events (<c>vnet_alloc</c> and the VNET_SYSINITs of the cloners), and deleted as a jail's vnet is
/// (<c>vnet_destroy</c>: <c>vnet_if_return</c>, then every clone of its cloners destroyed).
/// </summary>
public sealed class VnetService(TransactionRunner tx, ILinkObserver links, VnetOptions options, ILogger<VnetService> log)
{
    public Task<IReadOnlyList<VnetInfo>> ListAsync(CancellationToken ct) =>
        tx.ReadAsync(async (s, ct) => (IReadOnlyList<VnetInfo>)(await s.VnetsAsync(ct)).ConvertAll(ToInfo), ct);

    public Task<bool> ExistsAsync(string name, CancellationToken ct) => tx.ReadAsync((s, ct) => s.VnetExistsAsync(name, ct), ct);

    public Task<VnetInfo?> FindAsync(string name, CancellationToken ct) =>
        tx.ReadAsync(async (s, ct) => await s.FindVnetAsync(name, ct) is { } v ? ToInfo(v) : null, ct);

    /// <summary>
    /// A new vnet: its row, its index pool of <paramref name="maxInterfaces"/> (else
    /// <c>Vnets:MaxInterfaces</c>) and the built-in cloners with their minIfs units (<c>lo0</c>).
    /// Taken (<c>host</c> included): EEXIST.
    /// </summary>
    public Task<VnetInfo> CreateAsync(string name, int? maxInterfaces, string? actor, CancellationToken ct)
    {
        Vnets.Validate(name);
        var max = maxInterfaces ?? options.MaxInterfaces;
        Vnets.ValidateMaxInterfaces(max);
        return tx.WriteAsync(actor, async (s, ct) =>
        {
            if (await s.VnetExistsAsync(name, ct))
                throw new IfError(Errno.EEXIST, $"vnet '{name}' exists", Ioctl.VnetCreate);
            var row = new VnetRow { Name = name, MaxInterfaces = max };
            s.AddVnet(row);
            await s.SaveAsync(ct);
            using (s.Enter(name))
            {
                // Its index pool holds its quota: built-in cloners whose minIfs would not fit are ENOSPC there.
                await s.CreatePoolAsync(Pools.Ifindex, 1, max, ct);
                foreach (var spec in ClonerSpec.BuiltIn)
                    await ClonerService.AttachAsync(s, spec, indexesMadeHere: true, ct);
            }
            log.LogInformation("vnet {Vnet} created, at most {Max} interfaces", name, max);
            return new VnetInfo(name, ClonerSpec.BuiltIn.Sum(c => c.MinIfsInterfaces), max, row.CreatedAt);
        }, ct);
    }

    /// <summary>
    /// Deletes a vnet in one transaction: the interfaces it holds whose home is elsewhere return home
    /// (a name taken there: EEXIST, nothing changed), then its cloners are detached, which destroys
    /// every interface it made (<c>lo0</c> included) wherever it is now. <c>host</c>: EBUSY.
    /// </summary>
    public async Task DeleteAsync(string name, string? actor, CancellationToken ct)
    {
        if (name == Vnets.Host)
            throw new IfError(Errno.EBUSY, "vnet 'host' is the host's own stack and cannot be deleted", Ioctl.VnetRemove);
        await tx.WriteAsync(actor, async (s, ct) =>
        {
            if (!await s.LockVnetAsync(name, ct))
                throw new IfError(Errno.ENXIO, $"no vnet '{name}'", Ioctl.VnetRemove);
            var touched = new List<Guid>();
            using (s.Enter(name))
            {
                // One at a time, each read afresh: moving a bridge lets its members go, which changes them.
                foreach (var id in await s.LockBorrowedAsync(ct))
                {
                    if (await s.RowForChangeAsync(id, ct) is not { } row)
                        continue;
                    touched.AddRange(await Moving.MoveAsync(s, row, row.HomeVnet, ct)); // its home exists: its foreign key
                    await s.SaveAsync(ct);
                    s.Forget();
                }
                // Newest first, as if_clone_detach would be called; what one left tracked (a bridge whose
                // member went) the next reads afresh.
                foreach (var cloner in await s.ClonersAsync(null, int.MaxValue, ct))
                {
                    touched.AddRange(await ClonerService.DetachAsync(s, cloner.Row, ct));
                    await s.SaveAsync(ct);
                    s.Forget();
                }
                await s.RemoveVnetAsync(name, ct); // its index pool with it
            }
            log.LogInformation("vnet {Vnet} deleted", name);
            s.AfterCommit(ct => links.ChangedAsync(touched, ct).AsTask());
            return true;
        }, ct);
    }

    private static VnetInfo ToInfo(VnetView v) => new(v.Row.Name, v.Interfaces, v.Row.MaxInterfaces, v.Row.CreatedAt);
}
