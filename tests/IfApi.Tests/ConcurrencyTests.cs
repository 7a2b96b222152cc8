using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;

namespace IfApi.Tests;

public sealed class SqliteConcurrencyTests(SqliteStore store) : ConcurrencyTests<SqliteStore>(store);

public sealed class PostgresConcurrencyTests(PostgresStore store) : ConcurrencyTests<PostgresStore>(store);

/// <summary>Parallel requests, and several service hosts on one store, give what some serial order would.</summary>
public abstract class ConcurrencyTests<TStore>(TStore store) : IClassFixture<TStore> where TStore : StoreFixture
{
    [Fact]
    public async Task Sixty_four_parallel_wildcard_creates_get_units_0_to_63_exactly()
    {
        using var factory = store.NewFactory();
        using var http = factory.CreateClient();
        var c = await http.AttachCloner();
        var responses = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(() => http.Create(c))));
        var bodies = await Task.WhenAll(responses.Select(r => r.Json(HttpStatusCode.Created)));
        Assert.Equal(Enumerable.Range(0, 64), bodies.Select(b => b.Int("unit")).Order());
        Assert.Equal(64, bodies.Select(b => b.Int("index")).Distinct().Count());
        await StoreInvariants.AssertConsistentAsync(store);
    }

    [Fact]
    public async Task Two_service_hosts_on_one_store_allocate_exactly()
    {
        using var hosts = store.NewHosts();
        var (a, b) = (hosts.A, hosts.B);
        var c = await a.AttachCloner("epair");
        var responses = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(() => (i % 2 == 0 ? a : b).Create(c))));
        var bodies = await Task.WhenAll(responses.Select(r => r.Json(HttpStatusCode.Created)));
        Assert.Equal(Enumerable.Range(0, 64), bodies.Select(x => x.Int("unit")).Order());
        await StoreInvariants.AssertConsistentAsync(store);
    }

    [Fact]
    public async Task A_create_and_destroy_storm_on_several_cloners_leaves_the_store_consistent()
    {
        using var hosts = store.NewHosts();
        var clients = new[] { hosts.A, hosts.B };
        var cloners = new[] { await clients[0].AttachCloner(), await clients[0].AttachCloner("epair"), "bridge" };
        var failures = new ConcurrentBag<string>();
        await Task.WhenAll(Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            var http = clients[w % 2];
            for (var i = 0; i < 12; i++)
            {
                var r = await http.Create(cloners[(w + i) % cloners.Length]);
                if (r.StatusCode != HttpStatusCode.Created)
                {
                    failures.Add($"create: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
                    continue;
                }
                var name = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.Str("name");
                if (i % 3 != 2)
                {
                    var d = await http.DeleteAsync($"/v1/interfaces/{name}");
                    if (d.StatusCode != HttpStatusCode.NoContent)
                        failures.Add($"destroy {name}: {(int)d.StatusCode}");
                }
            }
        })));
        Assert.Empty(failures);
        await StoreInvariants.AssertConsistentAsync(store);
        foreach (var h in clients)
            h.Dispose();
    }

    [Fact]
    public async Task Detaching_a_vlan_cloner_while_dotted_vlans_are_created_loses_no_index()
    {
        using var factory = store.NewFactory();
        using var http = factory.CreateClient();
        var parent = (await http.CreateOk("tap")).Str("name");
        for (var round = 0; round < 3; round++)
        {
            var vlan = await http.AttachCloner("vlan"); // the newest vlan cloner takes the dotted names
            var creates = Enumerable.Range(1, 12).Select(tag => Task.Run(() => http.Create($"{parent}.{round * 100 + tag}"))).ToList();
            var detach = Task.Run(() => http.DeleteAsync($"/v1/cloners/{vlan}"));
            var statuses = (await Task.WhenAll(creates)).Select(r => r.StatusCode).ToList();
            Assert.Equal(HttpStatusCode.NoContent, (await detach).StatusCode);
            Assert.All(statuses, st => Assert.Contains(st, new[] { HttpStatusCode.Created, HttpStatusCode.BadRequest }));
            await StoreInvariants.AssertConsistentAsync(store);
        }
    }

    [Fact]
    public async Task Parallel_destroys_of_one_interface_succeed_once()
    {
        using var factory = store.NewFactory();
        using var http = factory.CreateClient();
        var c = await http.AttachCloner("epair");
        await http.CreateOk(c);
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => http.DeleteAsync($"/v1/interfaces/{c}0{(i % 2 == 0 ? 'a' : 'b')}"))));
        Assert.Single(results, r => r.StatusCode == HttpStatusCode.NoContent);
        Assert.All(results.Where(r => r.StatusCode != HttpStatusCode.NoContent), r => Assert.Equal(HttpStatusCode.NotFound, r.StatusCode));
        await StoreInvariants.AssertConsistentAsync(store);
    }
}
