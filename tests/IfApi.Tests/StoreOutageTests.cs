using System.Net;
using Npgsql;

namespace IfApi.Tests;

/// <summary>When PostgreSQL cannot be reached, requests get 503 with Retry-After, and the service recovers by itself.</summary>
public sealed class StoreOutageTests(PostgresStore store) : IClassFixture<PostgresStore>
{
    [Fact]
    public async Task A_lost_store_gives_503_with_Retry_After_and_the_service_recovers()
    {
        var target = new NpgsqlConnectionStringBuilder(store.ConnectionString);
        await using var proxy = new TcpProxy(target.Host!, target.Port);
        proxy.Start();
        var viaProxy = new NpgsqlConnectionStringBuilder(store.ConnectionString) { Host = "127.0.0.1", Port = proxy.Port, Timeout = 3 }.ConnectionString;
        using var factory = new IfApiFactory(store.Provider, viaProxy, []);
        using var http = factory.CreateClient();
        await http.CreateOk("tap");

        proxy.Stop();
        foreach (var request in new Func<Task<HttpResponseMessage>>[] { () => http.Create("tap"), () => http.GetAsync("/v1/interfaces"), () => http.GetAsync("/v1/interfaces/tap0") })
        {
            var r = await request();
            await r.Problem(HttpStatusCode.ServiceUnavailable, null);
            Assert.True(r.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After is missing");
        }
        var ready = await http.GetAsync("/readyz");
        await ready.Problem(HttpStatusCode.ServiceUnavailable, null);
        Assert.True(ready.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After is missing on /readyz");

        proxy.Start();
        HttpResponseMessage? created = null;
        for (var i = 0; i < 50 && created?.StatusCode != HttpStatusCode.Created; i++)
        {
            if (i > 0)
                await Task.Delay(200);
            created = await http.Create("tap");
        }
        await created!.Json(HttpStatusCode.Created);
        await StoreInvariants.AssertConsistentAsync(store);
    }
}
