using System.Net;
using System.Net.Http.Json;
using IfApi.Store;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace IfApi.Tests;

public sealed class SqliteMigrationTests(SqliteStore store) : MigrationTests<SqliteStore>(store);

public sealed class PostgresMigrationTests(PostgresStore store) : MigrationTests<PostgresStore>(store);

public sealed class SqliteMigrationDownTests(SqliteStore store) : MigrationDownTests<SqliteStore>(store);

public sealed class PostgresMigrationDownTests(PostgresStore store) : MigrationDownTests<PostgresStore>(store);

/// <summary>A store written by an earlier version is carried over by the migrations with nothing lost.</summary>
public abstract class MigrationTests<TStore>(TStore store) : IClassFixture<TStore> where TStore : StoreFixture
{
    [Fact]
    public async Task A_store_kept_as_free_runs_becomes_pools_with_every_allocation_kept()
    {
        var options = StoreSetup.Configure(new DbContextOptionsBuilder<IfDbContext>(),
            new StoreOptions { Provider = store.Provider, ConnectionString = store.ConnectionString }).Options;
        await using (var db = new IfDbContext(options))
        {
            var migrator = db.GetService<IMigrator>();
            // The last version that kept free runs: tap0, tap1 and tap3 exist with indexes 1, 2
            // and 4, so unit 2 and index 3 are free below the top runs.
            var before = db.Database.GetMigrations().Last(m => m.EndsWith("_TapLeases", StringComparison.Ordinal));
            await migrator.MigrateAsync(before);
            var now = store.Provider == StoreProvider.Postgres ? "now()" : "'2026-11-24 00:00:00+00:00'";
            var earlierState = $"""
                INSERT INTO cloners (name, kind, max_unit, no_group, min_ifs, attached_at) VALUES ('tap', 'tap', 32767, false, 0, {now});
                INSERT INTO meta (key, value) VALUES ('bootstrapped', 'before the pools');
                INSERT INTO interfaces (id, if_index, name, kind, cloner, unit, flags, mtu, metric, created_at, version) VALUES
                    ('00000000-0000-0000-0000-000000000001', 1, 'tap0', 'tap', 'tap', 0, 34818, 1500, 0, {now}, 1),
                    ('00000000-0000-0000-0000-000000000002', 2, 'tap1', 'tap', 'tap', 1, 34818, 1500, 0, {now}, 1),
                    ('00000000-0000-0000-0000-000000000003', 4, 'tap3', 'tap', 'tap', 3, 34818, 1500, 0, {now}, 1);
                INSERT INTO group_members (interface_id, group_name) VALUES
                    ('00000000-0000-0000-0000-000000000001', 'all'), ('00000000-0000-0000-0000-000000000002', 'all'),
                    ('00000000-0000-0000-0000-000000000003', 'all');
                INSERT INTO free_ranges (pool, lo, hi) VALUES ('tap', 2, 2), ('tap', 4, 32767), ('#ifindex', 3, 3), ('#ifindex', 5, 2147483647);
                """;
            await db.Database.ExecuteSqlRawAsync(earlierState); // the time's literal is ours, not input
            await migrator.MigrateAsync();
        }
        await StoreInvariants.AssertConsistentAsync(store);

        using (var factory = store.NewFactory())
        using (var http = factory.CreateClient())
        {
            var first = await http.CreateOk("tap");
            Assert.Equal((2, 3), (first.Int("unit"), first.Int("index")));
            var second = await http.CreateOk("tap");
            Assert.Equal((4, 5), (second.Int("unit"), second.Int("index")));
            await (await http.Create("tap3")).Problem(HttpStatusCode.Conflict, "EEXIST");
            await StoreInvariants.AssertConsistentAsync(store);
        }

        // And back: the runs the earlier version would read.
        await using (var db = new IfDbContext(options))
        {
            var before = db.Database.GetMigrations().Last(m => m.EndsWith("_TapLeases", StringComparison.Ordinal));
            await db.GetService<IMigrator>().MigrateAsync(before);
            var runs = await db.Database.SqlQueryRaw<string>(
                "SELECT pool || ':' || CAST(lo AS varchar(16)) || '-' || CAST(hi AS varchar(16)) AS \"Value\" FROM free_ranges ORDER BY pool, lo").ToListAsync();
            Assert.Equal(["#ifindex:6-2147483647", "tap:5-32767"], runs);
            await db.GetService<IMigrator>().MigrateAsync();
        }
    }
}

/// <summary>Below the vnets there is one stack: the migrations go there only once no other vnet is left.</summary>
/// <remarks>A store of its own: the class above starts from an empty one.</remarks>
public abstract class MigrationDownTests<TStore>(TStore store) : IClassFixture<TStore> where TStore : StoreFixture
{
    [Fact]
    public async Task Migrating_below_vnets_waits_until_every_vnet_but_host_is_deleted_and_changes_nothing_until_then()
    {
        var lab = "mig" + Guid.NewGuid().ToString("N")[..8];
        using (var factory = store.NewFactory())
        using (var http = factory.CreateClient())
        {
            await (await http.PostAsync("/v1/vnets", JsonContent.Create(new { name = lab }))).Json(HttpStatusCode.Created);
            var tap = (await http.CreateOk("tap")).Str("name");
            await (await http.Patch(tap, $$"""{"vnet":"{{lab}}"}""")).Json();
        }
        var options = StoreSetup.Configure(new DbContextOptionsBuilder<IfDbContext>(),
            new StoreOptions { Provider = store.Provider, ConnectionString = store.ConnectionString }).Options;
        var before = await StoreDump.SettledAsync(store);
        await using (var db = new IfDbContext(options))
        {
            var below = db.Database.GetMigrations().Last(m => m.EndsWith("_UnitClaims", StringComparison.Ordinal));
            var refused = await Assert.ThrowsAnyAsync<Exception>(() => db.GetService<IMigrator>().MigrateAsync(below));
            Assert.Contains("delete every vnet but host", refused.Message.Replace('_', ' '), StringComparison.Ordinal);
        }
        Assert.True(before == await StoreDump.SettledAsync(store), "a refused migration changed the store");

        using (var factory = store.NewFactory())
        using (var http = factory.CreateClient())
            Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/v1/vnets/{lab}")).StatusCode);
        await using (var db = new IfDbContext(options))
        {
            var below = db.Database.GetMigrations().Last(m => m.EndsWith("_UnitClaims", StringComparison.Ordinal));
            await db.GetService<IMigrator>().MigrateAsync(below);
            await db.GetService<IMigrator>().MigrateAsync();
        }
        await StoreInvariants.AssertConsistentAsync(store);
    }
}
