using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using IfApi.Store;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace IfApi.Tests;

/// <summary>
/// PostgreSQL's one-round-trip create and destroy (<see cref="PgFastPath"/>): they do the common
/// case themselves, never half-write, and hand everything else to the locked path.
/// </summary>
public sealed class FastPathTests(PostgresStore store) : IClassFixture<PostgresStore>
{
    [Fact]
    public async Task A_create_and_destroy_storm_runs_entirely_on_the_fast_path()
    {
        using var factory = store.NewFactory();
        using var http = factory.CreateClient();
        var fast = factory.Services.GetRequiredService<PgFastPath>();
        var cloners = new[] { await http.AttachCloner(), await http.AttachCloner("bridge") };
        var before = fast.Counts;
        var failures = new ConcurrentBag<string>();
        var kept = new ConcurrentBag<string>();
        // Sixteen clients on two cloners, so creates queue on each pool's lowest run and on the index
        // pool's, and destroys extend runs that creates are taking from.
        await Task.WhenAll(Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
            {
                var r = await http.Create(cloners[(w + i) % 2]);
                if (r.StatusCode != HttpStatusCode.Created)
                {
                    failures.Add($"create: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
                    continue;
                }
                var name = (await r.Json(HttpStatusCode.Created)).Str("name");
                if (i % 5 == 4)
                {
                    kept.Add(name);
                    continue;
                }
                var d = await http.DeleteAsync($"/v1/interfaces/{name}");
                if (d.StatusCode != HttpStatusCode.NoContent)
                    failures.Add($"destroy {name}: {(int)d.StatusCode}");
            }
        })));
        Assert.Empty(failures);
        var after = fast.Counts;
        // No deadlock, no lost race, no run used up under a waiter sends anything to the locked path.
        Assert.Equal((16 * 20, 16 * 16, 0), (after.Creates - before.Creates, after.Destroys - before.Destroys, after.Declines - before.Declines));
        await StoreInvariants.AssertConsistentAsync(store);

        // What survived is exactly what was kept, each with its cloner's group.
        foreach (var name in kept)
        {
            var groups = (await (await http.GetAsync($"/v1/interfaces/{name}")).Json()).GetProperty("groups").EnumerateArray().Select(g => g.GetString());
            Assert.Equal(["all", name.TrimEnd("0123456789".ToCharArray())], groups);
        }
        var listed = new HashSet<string>();
        foreach (var c in cloners)
            listed.UnionWith((await (await http.GetAsync($"/v1/interfaces?cloner={c}&limit=1000")).Json()).Names());
        Assert.Equal(kept.ToHashSet(), listed);
    }

    [Fact]
    public async Task A_destroy_by_id_takes_the_fast_path()
    {
        using var factory = store.NewFactory();
        using var http = factory.CreateClient();
        var fast = factory.Services.GetRequiredService<PgFastPath>();
        var c = await http.AttachCloner();
        var id = (await http.CreateOk(c)).Str("id");
        var before = fast.Counts.Destroys;
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/v1/interfaces/{id}")).StatusCode);
        Assert.Equal(before + 1, fast.Counts.Destroys);
        await (await http.GetAsync($"/v1/interfaces/{id}")).Problem(HttpStatusCode.NotFound, "ENXIO");
        await StoreInvariants.AssertConsistentAsync(store);
    }

    [Fact]
    public async Task A_held_name_makes_the_fast_create_decline_and_leaves_no_trace()
    {
        // fph0 is a static interface: unit 0 of cloner fph is free, but its name is held.
        using var factory = store.NewFactory(("Interfaces:Static", "fph0"));
        using var http = factory.CreateClient();
        var fast = factory.Services.GetRequiredService<PgFastPath>();
        await (await http.PostAsJsonAsync("/v1/cloners", new { name = "fph", kind = "tap" })).Json(HttpStatusCode.Created);
        var before = fast.Counts;
        Assert.Equal("fph1", (await http.CreateOk("fph")).Str("name"));
        Assert.Equal((0, 1), (fast.Counts.Creates - before.Creates, fast.Counts.Declines - before.Declines));
        await StoreInvariants.AssertConsistentAsync(store); // the unit and index the declined try took are free again
        Assert.Equal("fph2", (await http.CreateOk("fph")).Str("name"));
    }

    [Fact]
    public async Task A_cloner_detached_and_attached_anew_elsewhere_is_not_mistaken_for_the_old_one()
    {
        using var one = store.NewFactory();
        using var two = store.NewFactory();
        using var a = one.CreateClient();
        using var b = two.CreateClient();
        var c = await a.AttachCloner();
        Assert.Equal("tap", (await a.CreateOk(c)).Str("kind")); // host one now knows c as a tap cloner

        // Host two replaces it with a bridge cloner of the same name, and an interface takes the
        // wildcard name itself.
        Assert.Equal(HttpStatusCode.NoContent, (await b.DeleteAsync($"/v1/cloners/{c}")).StatusCode);
        await (await b.PostAsJsonAsync("/v1/cloners", new { name = c, kind = "bridge", maxUnit = 3 })).Json(HttpStatusCode.Created);
        var created = await a.CreateOk(c);
        Assert.Equal(($"{c}0", "bridge"), (created.Str("name"), created.Str("kind")));
        await a.CreateOk($"{c}3");
        await a.CreateOk(c);
        await a.CreateOk(c);
        await (await a.Create(c)).Problem(HttpStatusCode.Conflict, "ENOSPC"); // the new maxUnit, not the old one
        await StoreInvariants.AssertConsistentAsync(store);
    }

    [Fact]
    public async Task A_create_that_gets_a_unit_but_no_index_writes_nothing()
    {
        using var factory = store.NewFactory();
        using var http = factory.CreateClient();
        var fast = factory.Services.GetRequiredService<PgFastPath>();
        var c = await http.AttachCloner();
        var seq = await ScalarAsync<long>($"SELECT seq FROM cloners WHERE name = '{c}'");
        var rangesBefore = await RangesAsync(c);

        // Take the index pool away for a moment: the unit step succeeds, the index step finds nothing,
        // and the insert's NOT NULL index must roll the unit back with everything else.
        await using (var conn = new NpgsqlConnection(store.ConnectionString))
        {
            await conn.OpenAsync();
            await Exec(conn, "DELETE FROM free_ranges WHERE pool = '#ifindex'");
        }
        try
        {
            var took = await fast.TryCreateAsync(new PgFastPath.CreateRequest(Guid.CreateVersion7(), c, seq, "tap", 0, 1500,
                null, ["all", c], DateTimeOffset.UtcNow), CancellationToken.None);
            Assert.Null(took);
            Assert.Equal(rangesBefore, await RangesAsync(c));
            Assert.Equal(0, await ScalarAsync<long>($"SELECT count(*) FROM interfaces WHERE cloner = '{c}'"));
        }
        finally
        {
            await RestoreIndexPoolAsync();
        }
        await StoreInvariants.AssertConsistentAsync(store);
    }

    // The index pool as it was before the test above removed it: rebuilt from the interfaces present.
    private async Task RestoreIndexPoolAsync()
    {
        await using var conn = new NpgsqlConnection(store.ConnectionString);
        await conn.OpenAsync();
        await Exec(conn, """
            INSERT INTO free_ranges (pool, lo, hi)
            SELECT '#ifindex', lo, hi FROM (
                SELECT coalesce(lag(if_index) OVER (ORDER BY if_index), 0) + 1 AS lo, if_index - 1 AS hi FROM interfaces
                UNION ALL SELECT coalesce(max(if_index), 0) + 1, 2147483647 FROM interfaces
            ) AS gaps WHERE lo <= hi
            """);
    }

    private async Task<List<(int, int)>> RangesAsync(string pool)
    {
        await using var conn = new NpgsqlConnection(store.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT lo, hi FROM free_ranges WHERE pool = @p ORDER BY lo", conn);
        cmd.Parameters.AddWithValue("p", pool);
        await using var reader = await cmd.ExecuteReaderAsync();
        var ranges = new List<(int, int)>();
        while (await reader.ReadAsync())
            ranges.Add((reader.GetInt32(0), reader.GetInt32(1)));
        return ranges;
    }

    private async Task<T> ScalarAsync<T>(string sql)
    {
        await using var conn = new NpgsqlConnection(store.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task Exec(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }
}
