using IfApi.Domain;
using Microsoft.EntityFrameworkCore;

namespace IfApi.Store;

/// <summary>A vnet as stored, with how many interfaces are in it now.</summary>
public sealed record VnetView(VnetRow Row, int Interfaces);

public sealed partial class StoreSession
{
    // ---- vnets ---------------------------------------------------------------------------------

    private IQueryable<VnetView> VnetViews(IQueryable<VnetRow> vnets) =>
        vnets.AsNoTracking().Select(v => new VnetView(v, _db.Interfaces.IgnoreQueryFilters().Count(i => i.Vnet == v.Name)));

    /// <summary>Every vnet by name, <c>host</c> among them.</summary>
    public Task<List<VnetView>> VnetsAsync(CancellationToken ct) => VnetViews(_db.Vnets.OrderBy(v => v.Name)).ToListAsync(ct);

    public Task<VnetView?> FindVnetAsync(string name, CancellationToken ct) => VnetViews(_db.Vnets.Where(v => v.Name == name)).FirstOrDefaultAsync(ct);

    public Task<bool> VnetExistsAsync(string name, CancellationToken ct) => _db.Vnets.AnyAsync(v => v.Name == name, ct);

    /// <summary>
    /// Locks a vnet's row until the commit (PostgreSQL <c>FOR UPDATE</c>): whatever puts an interface in
    /// it holds the row shared through the interface's foreign key, so a delete and they take turns.
    /// False when there is no such vnet.
    /// </summary>
    public async Task<bool> LockVnetAsync(string name, CancellationToken ct) =>
        _provider == StoreProvider.Postgres
            ? await _db.Database.SqlQuery<int>($"SELECT 1 AS \"Value\" FROM vnets WHERE name = {name} FOR UPDATE").AnyAsync(ct)
            : await VnetExistsAsync(name, ct);

    /// <summary>A new vnet, stamped with the time its events are read from (the store's own clock on PostgreSQL, as events are).</summary>
    public void AddVnet(VnetRow row)
    {
        row.CreatedAt = _db.StampedNow;
        _db.Vnets.Add(row);
    }

    /// <summary>
    /// A vnet's row, its cloners' rows, every unit pool and remembered answer of its own, gone now (its
    /// interfaces went before). Its events stay, numbered as they were, and stay its: a vnet made later
    /// under the name does not read them (<see cref="VnetRow.CreatedAt"/>).
    /// </summary>
    public async Task RemoveVnetAsync(string name, CancellationToken ct)
    {
        var prefix = Pools.In(name, "");
        await _db.FreeUnits.Where(u => u.Pool.StartsWith(prefix)).ExecuteDeleteAsync(ct);
        await _db.UnitPools.Where(u => u.Pool.StartsWith(prefix)).ExecuteDeleteAsync(ct);
        var keys = IdempotencyRow.In(name, "");
        await _db.IdempotencyKeys.Where(k => k.Key.StartsWith(keys)).ExecuteDeleteAsync(ct);
        await _db.Cloners.IgnoreQueryFilters().Where(c => c.Vnet == name).ExecuteDeleteAsync(ct);
        await _db.Vnets.Where(v => v.Name == name).ExecuteDeleteAsync(ct);
        _clonersChanged = true;
        AfterCommit(_ =>
        {
            _cloners?.Forget(name);
            return Task.CompletedTask;
        });
    }

    /// <summary>The interfaces in this vnet whose home is another (<c>vnet_if_return</c>'s), by index, locked.</summary>
    public async Task<Guid[]> LockBorrowedAsync(CancellationToken ct)
    {
        var vnet = Vnet;
        var ids = await _db.Interfaces.Where(i => i.HomeVnet != vnet).OrderBy(i => i.Index).Select(i => i.Id).ToArrayAsync(ct);
        await LockInterfacesAsync(ids, ct);
        return ids;
    }

    /// <summary>Whether this vnet has a cloner of that name, and if so whether it is noGroup; null when it has none.</summary>
    public Task<bool?> ClonerNoGroupAsync(string name, CancellationToken ct) =>
        _db.Cloners.Where(c => c.Name == name).Select(c => (bool?)c.NoGroup).FirstOrDefaultAsync(ct);

    /// <summary>A bridge's members let go now (a bridge that leaves its vnet takes none of them along); returns them.</summary>
    public async Task<List<Guid>> ReleaseMembersAsync(Guid bridge, CancellationToken ct)
    {
        var members = await _db.Interfaces.IgnoreQueryFilters().Where(i => i.BridgeId == bridge).Select(i => i.Id).ToListAsync(ct);
        if (members.Count > 0)
            await _db.Interfaces.IgnoreQueryFilters().Where(i => i.BridgeId == bridge)
                .ExecuteUpdateAsync(u => u.SetProperty(i => i.BridgeId, (Guid?)null).SetProperty(i => i.Version, i => i.Version + 1), ct);
        return members;
    }
}
