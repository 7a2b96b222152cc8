using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using IfApi.Store;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace IfApi.Tests;

public sealed class SqliteUnitClaimTests(SqliteStore store) : UnitClaimTests<SqliteStore>(store);

public sealed class PostgresUnitClaimTests(PostgresStore store) : UnitClaimTests<PostgresStore>(store)
{
    [Fact]
    public async Task Creates_on_one_cloner_are_in_flight_in_the_store_at_once()
    {
        // Each create stops inside the store as it writes its interface row, after its unit and index
        // were claimed: a trigger waits for a lock this test holds. All eight must be waiting there
        // at once; creates that queued on the pool through each other's commits never would be.
        const int creates = 8;
        using var factory = Store.NewFactory();
        using var http = factory.CreateClient();
        var c = await http.AttachCloner();
        await using var gate = new NpgsqlConnection(Store.ConnectionString);
        await gate.OpenAsync();
        await Sql(gate, $"""
            CREATE FUNCTION gate_{c}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_advisory_xact_lock_shared(hashtext('gate:{c}')); RETURN NEW; END $$;
            CREATE TRIGGER gate_{c} BEFORE INSERT ON interfaces FOR EACH ROW WHEN (NEW.cloner = '{c}') EXECUTE FUNCTION gate_{c}();
            """);
        try
        {
            await using var holding = await gate.BeginTransactionAsync();
            await Sql(gate, $"SELECT pg_advisory_xact_lock(hashtext('gate:{c}'))", holding);
            var responses = Task.WhenAll(Enumerable.Range(0, creates).Select(_ => Task.Run(() => http.Create(c))));
            var waiting = 0L;
            for (var deadline = DateTime.UtcNow.AddSeconds(15); waiting < creates && DateTime.UtcNow < deadline; await Task.Delay(20))
            {
                await using var count = new NpgsqlCommand($"""
                    SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                      AND objid = (SELECT hashtext('gate:{c}')::oid)
                    """, gate, holding);
                waiting = (long)(await count.ExecuteScalarAsync())!;
            }
            await holding.CommitAsync(); // let them through
            var units = await Task.WhenAll((await responses).Select(async r => (await r.Json(HttpStatusCode.Created)).Int("unit")));
            Assert.True(waiting == creates, $"only {waiting} of {creates} creates were in flight in the store at once");
            Assert.Equal(Enumerable.Range(0, creates), units.Order());
        }
        finally
        {
            await Sql(gate, $"DROP TRIGGER gate_{c} ON interfaces; DROP FUNCTION gate_{c}();");
        }
        await StoreInvariants.AssertConsistentAsync(Store);
    }

    [Fact]
    public async Task A_destroy_whose_delete_finds_no_row_commits_nothing_and_runs_again()
    {
        // The destroy's delete goes in one batch with its freed units, its event and its COMMIT. A
        // trigger makes the first delete of the interface find nothing, as if another transaction had
        // changed it after the destroy read it: that attempt must commit none of the rest.
        using var factory = Store.NewFactory();
        using var http = factory.CreateClient();
        var c = await http.AttachCloner();
        var name = (await http.CreateOk(c)).Str("name");
        await StoreSql.ExecuteAsync(Store, $"""
            CREATE SEQUENCE skip_{c};
            CREATE FUNCTION skip_{c}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF nextval('skip_{c}') = 1 THEN RETURN NULL; END IF; -- a sequence keeps counting through a rollback
              RETURN OLD;
            END $$;
            CREATE TRIGGER skip_{c} BEFORE DELETE ON interfaces FOR EACH ROW WHEN (OLD.cloner = '{c}') EXECUTE FUNCTION skip_{c}();
            """);
        try
        {
            Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/v1/interfaces/{name}")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/v1/interfaces/{name}")).StatusCode);
            Assert.Equal(2L, await StoreSql.ScalarAsync<long>(Store, $"SELECT last_value FROM skip_{c}")); // skipped once, then deleted
            Assert.Equal(1L, await StoreSql.ScalarAsync<long>(Store,
                $"SELECT count(*) FROM events WHERE type = 'interface-departure' AND subject = '{name}'"));
        }
        finally
        {
            await StoreSql.ExecuteAsync(Store, $"DROP TRIGGER skip_{c} ON interfaces; DROP FUNCTION skip_{c}(); DROP SEQUENCE skip_{c};");
        }
        await StoreInvariants.AssertConsistentAsync(Store); // its unit and index freed once
    }

    private static async Task Sql(NpgsqlConnection connection, string sql, NpgsqlTransaction? tx = null)
    {
        await using var command = new NpgsqlCommand(sql, connection, tx);
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task A_unit_another_replica_has_claimed_holds_up_no_create()
    {
        using var factory = Store.NewFactory();
        using var http = factory.CreateClient();
        var c = await http.AttachCloner();
        Assert.Equal(0, (await http.CreateOk(c)).Int("unit")); // warm, and a row for the next units exists

        // Another replica (here: a bare connection) is inside a create that claimed unit 1.
        await using var other = new NpgsqlConnection(Store.ConnectionString);
        await other.OpenAsync();
        await using var tx = await other.BeginTransactionAsync();
        await using (var cmd = new NpgsqlCommand($"DELETE FROM free_units WHERE pool = '{c}' AND unit = 1", other, tx))
            Assert.Equal(1, await cmd.ExecuteNonQueryAsync());

        var created = await http.Create(c).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(2, (await created.Json(HttpStatusCode.Created)).Int("unit"));
        await (await http.Create($"{c}1").WaitAsync(TimeSpan.FromSeconds(10))).Problem(HttpStatusCode.Conflict, "EEXIST");

        await tx.RollbackAsync(); // that create failed: its unit is free again, and the lowest
        Assert.Equal(1, (await http.CreateOk(c)).Int("unit"));
        await StoreInvariants.AssertConsistentAsync(Store);
    }

    [Fact]
    public async Task A_cloner_detached_and_attached_anew_elsewhere_is_not_mistaken_for_the_old_one()
    {
        using var hosts = Store.NewHosts();
        var (a, b) = (hosts.A, hosts.B);
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
        await StoreInvariants.AssertConsistentAsync(Store);
    }

    [Fact]
    public async Task Cloners_attached_or_detached_elsewhere_are_seen_by_the_next_create_here()
    {
        using var hosts = Store.NewHosts();
        var (a, b) = (hosts.A, hosts.B);
        await a.CreateOk("tap"); // host one has read the cloners

        // Attached on host two: host one matches it at once.
        var attached = await b.AttachCloner();
        Assert.Equal($"{attached}0", (await a.CreateOk(attached)).Str("name"));

        // Detached on host two: host one no longer matches it, with a name it would have matched before.
        var detached = await b.AttachCloner();
        await a.CreateOk(detached);
        Assert.Equal(HttpStatusCode.NoContent, (await b.DeleteAsync($"/v1/cloners/{detached}")).StatusCode);
        await (await a.Create($"{detached}5")).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await a.Create(detached)).Problem(HttpStatusCode.BadRequest, "EINVAL");

        // A name taken is EEXIST before anything the create would refuse after it (a bad lladdr).
        await (await a.Create($"{attached}0", new { lladdr = "ff:ff:ff:ff:ff:ff" })).Problem(HttpStatusCode.Conflict, "EEXIST");
        await StoreInvariants.AssertConsistentAsync(Store);
    }
}

/// <summary>
/// Units and indexes are claimed row by row: concurrent creates on one cloner each get another
/// unit without waiting for each other's commits, and a create that fails gives its claims back.
/// </summary>
public abstract class UnitClaimTests<TStore>(TStore store) : IClassFixture<TStore> where TStore : StoreFixture
{
    protected TStore Store => store;

    [Fact]
    public async Task A_delete_and_an_add_of_one_name_in_one_transaction_commit_in_the_order_made_with_their_events()
    {
        // A transaction's rows go to the store together, with the commit on PostgreSQL: the name the
        // delete frees must be free when the add takes it, and the events must keep the order they
        // were announced in (their ids order the stream).
        using var factory = store.NewFactory();
        using var http = factory.CreateClient();
        var c = await http.AttachCloner();
        var old = await http.CreateOk(c);
        var (oldId, name) = (Guid.Parse(old.Str("id")), old.Str("name"));
        var newId = Guid.NewGuid();
        var runner = factory.Services.GetRequiredService<TransactionRunner>();
        await runner.WriteAsync<bool>("test", async (s, ct) =>
        {
            s.Delete(oldId, version: 1);
            s.Announce(new IfApi.Domain.LinkDown(oldId, name));
            s.Add(new InterfaceRow
            {
                Id = newId, Index = old.Int("index"), Name = name, Kind = "tap", Cloner = c, Unit = old.Int("unit"),
                Mtu = 1500, Lladdr = old.Str("lladdr"), CreatedAt = DateTimeOffset.UtcNow, Version = 1,
                Groups = [new() { InterfaceId = newId, Group = "all" }, new() { InterfaceId = newId, Group = c }],
            });
            s.Announce(new IfApi.Domain.LinkUp(newId, name));
            s.Announce(new IfApi.Domain.LinkDown(newId, name));
            await Task.CompletedTask;
            return true;
        }, CancellationToken.None);
        Assert.Equal(newId.ToString(), (await http.GetOk($"/v1/interfaces/{name}")).Str("id"));
        var types = new List<string>();
        for (var i = 0; i < 3; i++)
            types.Add(await StoreSql.ScalarAsync<string>(store,
                $"SELECT type FROM events WHERE subject = '{name}' AND type LIKE 'link-%' ORDER BY id LIMIT 1 OFFSET {i}"));
        Assert.Equal(["link-down", "link-up", "link-down"], types);
        Assert.Equal(3L, await StoreSql.ScalarAsync<long>(store, $"SELECT count(*) FROM events WHERE subject = '{name}' AND type LIKE 'link-%'"));
        await StoreInvariants.AssertConsistentAsync(store);
    }

    [Fact]
    public async Task A_create_and_destroy_storm_on_two_cloners_leaves_exactly_what_was_kept()
    {
        using var factory = store.NewFactory();
        using var http = factory.CreateClient();
        var cloners = new[] { await http.AttachCloner(), await http.AttachCloner("bridge") };
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
    public async Task A_destroy_by_id_frees_its_unit_and_index()
    {
        using var factory = store.NewFactory();
        using var http = factory.CreateClient();
        var c = await http.AttachCloner();
        var first = await http.CreateOk(c);
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/v1/interfaces/{first.Str("id")}")).StatusCode);
        await (await http.GetAsync($"/v1/interfaces/{first.Str("id")}")).Problem(HttpStatusCode.NotFound, "ENXIO");
        var again = await http.CreateOk(c);
        Assert.Equal((first.Int("unit"), first.Int("index")), (again.Int("unit"), again.Int("index")));
        await StoreInvariants.AssertConsistentAsync(store);
    }

    [Fact]
    public async Task A_unit_whose_name_is_held_is_skipped_and_stays_free()
    {
        // fph0 is a static interface: unit 0 of cloner fph is free, but its name is held.
        using var factory = store.NewFactory(("Interfaces:Static", "fph0"));
        using var http = factory.CreateClient();
        await (await http.PostAsJsonAsync("/v1/cloners", new { name = "fph", kind = "tap" })).Json(HttpStatusCode.Created);
        Assert.Equal("fph1", (await http.CreateOk("fph")).Str("name"));
        await StoreInvariants.AssertConsistentAsync(store); // unit 0 was claimed, looked at, and given back
        Assert.Equal("fph2", (await http.CreateOk("fph")).Str("name"));
        Assert.Equal(HttpStatusCode.OK, (await http.PatchAsJsonAsync("/v1/interfaces/fph0", new { name = "static0" })).StatusCode);
        Assert.Equal("fph0", (await http.CreateOk("fph")).Str("name"));
    }

    [Fact]
    public async Task A_create_that_fails_after_claiming_its_unit_and_index_frees_them()
    {
        using var factory = store.NewFactory();
        using var http = factory.CreateClient();
        var c = await http.AttachCloner("epair");
        var before = await http.CreateOk(c); // unit 0, two indexes
        // The store refuses the next interface row of this cloner, as a full disk would: the create
        // fails after it claimed its unit and indexes.
        await StoreSql.ExecuteAsync(store, store.Provider == StoreProvider.Postgres
            ? $"""
              CREATE FUNCTION refuse_{c}() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN RAISE EXCEPTION 'the disk is full (injected)'; END $$;
              CREATE TRIGGER refuse_{c} BEFORE INSERT ON interfaces FOR EACH ROW WHEN (NEW.cloner = '{c}') EXECUTE FUNCTION refuse_{c}();
              """
            : $"""
              CREATE TRIGGER refuse_{c} BEFORE INSERT ON interfaces WHEN NEW.cloner = '{c}'
              BEGIN SELECT RAISE(ABORT, 'the disk is full (injected)'); END;
              """);
        Assert.Equal(HttpStatusCode.InternalServerError, (await http.Create(c)).StatusCode);
        await StoreSql.ExecuteAsync(store, store.Provider == StoreProvider.Postgres
            ? $"DROP TRIGGER refuse_{c} ON interfaces; DROP FUNCTION refuse_{c}();"
            : $"DROP TRIGGER refuse_{c};");
        await StoreInvariants.AssertConsistentAsync(store);
        var after = await http.CreateOk(c);
        Assert.Equal(1, after.Int("unit")); // the unit the failed create claimed, free again
        Assert.Equal(before.Int("index") + 2, after.Int("index"));
    }

    [Fact]
    public async Task Specific_units_far_above_the_others_are_taken_and_the_lowest_still_comes_first()
    {
        using var factory = store.NewFactory();
        using var http = factory.CreateClient();
        var c = await http.AttachCloner();
        await http.CreateOk($"{c}30000");
        await http.CreateOk($"{c}32767");
        await (await http.Create($"{c}30000")).Problem(HttpStatusCode.Conflict, "EEXIST");
        Assert.Equal(0, (await http.CreateOk(c)).Int("unit"));
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/v1/interfaces/{c}30000")).StatusCode);
        await http.CreateOk($"{c}30000");
        await StoreInvariants.AssertConsistentAsync(store);
    }
}
