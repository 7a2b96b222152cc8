using IfApi.Store;
using Microsoft.EntityFrameworkCore;

namespace IfApi.Tests;

/// <summary>
/// Reads the store directly and checks what no crash or race may break: for every pool, the units
/// held by interfaces, the free units and the fresh ones are disjoint and together cover the whole pool.
/// </summary>
public static class StoreInvariants
{
    public static async Task AssertConsistentAsync(StoreFixture store)
    {
        var options = StoreSetup.Configure(new DbContextOptionsBuilder<IfDbContext>(),
            new StoreOptions { Provider = store.Provider, ConnectionString = store.ConnectionString }).Options;
        await using var db = new IfDbContext(options);
        // Every vnet's rows: the context's own filter would show the host's only.
        var vnets = await db.Vnets.AsNoTracking().ToListAsync();
        var cloners = await db.Cloners.IgnoreQueryFilters().AsNoTracking().ToListAsync();
        var interfaces = await db.Interfaces.IgnoreQueryFilters().AsNoTracking().ToListAsync();
        var memberships = await db.GroupMembers.IgnoreQueryFilters().AsNoTracking().ToListAsync();
        var pools = await db.UnitPools.AsNoTracking().ToListAsync();
        var free = await db.FreeUnits.AsNoTracking().ToListAsync();

        Assert.Contains(vnets, v => v.Name == Domain.Vnets.Host);
        Assert.Equal(interfaces.Count, interfaces.Select(i => (i.Vnet, i.Index)).Distinct().Count());
        Assert.Equal(interfaces.Count, interfaces.Select(i => (i.Vnet, i.Name)).Distinct().Count());
        foreach (var v in vnets)
        {
            var held = interfaces.Where(i => i.Vnet == v.Name).ToList();
            Assert.True(held.Count <= v.MaxInterfaces, $"vnet {v.Name} holds {held.Count} interfaces, more than its {v.MaxInterfaces}");
            AssertCovers(Pools.In(v.Name, Pools.Ifindex), 1, v.MaxInterfaces, held.Select(i => i.Index), pools, free);
        }
        foreach (var c in cloners)
        {
            var units = interfaces.Where(i => i.HomeVnet == c.Vnet && i.Cloner == c.Name && i.Unit is not null).Select(i => i.Unit!.Value).Distinct();
            AssertCovers(Pools.In(c.Vnet, c.Name), 0, c.MaxUnit, units, pools, free);
        }
        Assert.All(interfaces, i => Assert.Contains(vnets, v => v.Name == i.Vnet));
        Assert.All(interfaces.Where(i => i.Cloner is not null), i => Assert.Contains(cloners, c => c.Vnet == i.HomeVnet && c.Name == i.Cloner));
        Assert.Equal(cloners.Select(c => Pools.In(c.Vnet, c.Name)).Concat(vnets.Select(v => Pools.In(v.Name, Pools.Ifindex))).Order(),
            pools.Select(p => p.Pool).Order());
        Assert.All(interfaces.Where(i => i.PeerId is not null), i => Assert.Contains(interfaces, p => p.Id == i.PeerId && p.PeerId == i.Id));
        // A membership is in its member's vnet; a bridge's members are in the bridge's.
        Assert.All(memberships, m => Assert.Equal(interfaces.Single(i => i.Id == m.InterfaceId).Vnet, m.Vnet));
        Assert.All(interfaces.Where(i => i.BridgeId is not null), i => Assert.Equal(interfaces.Single(b => b.Id == i.BridgeId).Vnet, i.Vnet));
    }

    private static void AssertCovers(string pool, long lo, long hi, IEnumerable<int> allocated, List<UnitPoolRow> pools, List<FreeUnitRow> free)
    {
        var fresh = pools.Single(p => p.Pool == pool);
        Assert.Equal(hi, fresh.Hi);
        var runs = free.Where(f => f.Pool == pool).Select(f => (Lo: (long)f.Unit, Hi: (long)f.Unit))
            .Concat(allocated.Select(u => (Lo: (long)u, Hi: (long)u)))
            .Concat(fresh.Fresh <= hi ? [(Lo: fresh.Fresh, Hi: hi)] : [])
            .OrderBy(r => r.Lo)
            .ToList();
        var next = lo;
        foreach (var (rlo, rhi) in runs)
        {
            Assert.True(rlo == next, $"pool {pool}: expected a unit or free run at {next}, found {rlo}..{rhi} (overlap or gap)");
            next = rhi + 1;
        }
        Assert.True(next == hi + 1, $"pool {pool}: covered up to {next - 1}, not {hi}");
    }
}

/// <summary>Runs SQL on a test's store directly, beside the service (to set up a fault inside the store).</summary>
public static class StoreSql
{
    public static async Task ExecuteAsync(StoreFixture store, string sql)
    {
        await using var db = Open(store);
        await db.Database.ExecuteSqlRawAsync(sql);
    }

    /// <summary>The first column of the first row <paramref name="sql"/> returns.</summary>
    public static async Task<T> ScalarAsync<T>(StoreFixture store, string sql)
    {
        await using var db = Open(store);
        var connection = db.Database.GetDbConnection();
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (T)Convert.ChangeType((await command.ExecuteScalarAsync())!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static IfDbContext Open(StoreFixture store) => new(StoreSetup.Configure(new DbContextOptionsBuilder<IfDbContext>(),
        new StoreOptions { Provider = store.Provider, ConnectionString = store.ConnectionString }).Options);
}
