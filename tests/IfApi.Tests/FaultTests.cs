using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Npgsql;

namespace IfApi.Tests;

/// <summary>
/// Clients creating and destroying taps as fast as they can, keeping what each answer told them:
/// a 201 means the interface exists until its own 204; a 204 means it is gone; an answer that
/// never came (the service died, the store went away) leaves its request's outcome open.
/// </summary>
public sealed class Storm(Func<HttpClient> client, int clients)
{
    public ConcurrentDictionary<string, byte> Created { get; } = new();   // 201, no destroy tried since
    public ConcurrentDictionary<string, byte> Destroyed { get; } = new(); // 204
    public ConcurrentBag<int> Statuses { get; } = [];
    public ConcurrentBag<HttpResponseMessage> Unavailable { get; } = [];

    public async Task RunAsync(CancellationToken stop)
    {
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            using var http = client();
            while (!stop.IsCancellationRequested)
            {
                string id;
                try
                {
                    var r = await http.Create("tap");
                    Statuses.Add((int)r.StatusCode);
                    if (r.StatusCode == HttpStatusCode.ServiceUnavailable)
                    {
                        Unavailable.Add(r);
                        await Task.Delay(50, CancellationToken.None);
                        continue;
                    }
                    if (r.StatusCode != HttpStatusCode.Created)
                        continue;
                    id = JsonDocument.Parse(await r.Content.ReadAsStringAsync(CancellationToken.None)).RootElement.GetProperty("id").GetString()!;
                    Created[id] = 0;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                {
                    await Task.Delay(50, CancellationToken.None);
                    continue; // no answer: whether it was created is open
                }
                try
                {
                    Created.TryRemove(id, out var _);
                    var d = await http.DeleteAsync($"/v1/interfaces/{id}");
                    Statuses.Add((int)d.StatusCode);
                    if (d.StatusCode == HttpStatusCode.NoContent)
                        Destroyed[id] = 0;
                    else if (d.StatusCode == HttpStatusCode.ServiceUnavailable)
                        Unavailable.Add(d); // outcome open: it may have committed
                    else
                        Created[id] = 0; // refused: it is still there
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                {
                    // no answer: whether it was destroyed is open
                }
            }
        }));
    }

    /// <summary>Every 201 not destroyed since is there; every 204 is gone; the pools match the interfaces.</summary>
    public async Task VerifyAsync(HttpClient http, StoreFixture store)
    {
        Assert.True(Created.Count + Destroyed.Count > 0, "the storm made nothing");
        foreach (var id in Created.Keys)
            Assert.True((await http.GetAsync($"/v1/interfaces/{id}")).StatusCode == HttpStatusCode.OK, $"{id} was created (201) and is gone");
        foreach (var id in Destroyed.Keys)
            Assert.True((await http.GetAsync($"/v1/interfaces/{id}")).StatusCode == HttpStatusCode.NotFound, $"{id} was destroyed (204) and is back");
        await StoreInvariants.AssertConsistentAsync(store);
    }
}

/// <summary>Faults in the middle of a storm of 16 clients, on PostgreSQL: nothing a client was told is lost.</summary>
public sealed class FaultTests(PostgresStore store) : IClassFixture<PostgresStore>
{
    [Fact]
    public async Task A_service_killed_with_9_mid_storm_restarts_with_every_answer_it_gave_true()
    {
        var service = await ServiceProcess.StartAsync(store);
        var storm = new Storm(() => service.Client(), clients: 16);
        using var stop = new CancellationTokenSource();
        var running = storm.RunAsync(stop.Token);
        await Task.Delay(TimeSpan.FromSeconds(3));
        await service.KillAsync(); // mid-request, mid-transaction
        stop.Cancel();
        await running;
        await service.DisposeAsync();

        await using var restarted = await ServiceProcess.StartAsync(store);
        using var http = restarted.Client();
        await storm.VerifyAsync(http, store);
        Assert.Contains(201, storm.Statuses);
        // The service goes on where it was: units are handed out again from the pools.
        await http.CreateOk("tap");
        await StoreInvariants.AssertConsistentAsync(store);
    }

    [Fact]
    public async Task PostgreSQL_lost_under_load_gives_503_with_Retry_After_and_the_service_recovers_with_nothing_lost()
    {
        // The store goes away as a stopped server does for its clients: open connections reset, new ones refused.
        var target = new NpgsqlConnectionStringBuilder(store.ConnectionString);
        await using var proxy = new TcpProxy(target.Host!, target.Port);
        proxy.Start();
        var viaProxy = new NpgsqlConnectionStringBuilder(store.ConnectionString) { Host = "127.0.0.1", Port = proxy.Port, Timeout = 3 }.ConnectionString;
        using var factory = new IfApiFactory(store.Provider, viaProxy, []);
        var storm = new Storm(factory.CreateClient, clients: 16);
        using var stop = new CancellationTokenSource();
        var running = storm.RunAsync(stop.Token);
        await Task.Delay(TimeSpan.FromSeconds(2));
        proxy.Stop();
        await Task.Delay(TimeSpan.FromSeconds(4));
        proxy.Start();
        await Task.Delay(TimeSpan.FromSeconds(4)); // it recovers by itself, under the same load
        stop.Cancel();
        await running;

        Assert.NotEmpty(storm.Unavailable);
        foreach (var r in storm.Unavailable)
        {
            Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
            Assert.True(r.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After is missing");
        }
        Assert.DoesNotContain(storm.Statuses, s => s >= 500 && s != 503);
        using var http = factory.CreateClient();
        // After the outage the service serves again without a restart.
        await http.CreateOk("tap");
        await storm.VerifyAsync(http, store);
    }
}

/// <summary>
/// A PostgreSQL server of the test's own (Debian's binaries, through scripts/postgres.sh), which it
/// may stop and start: the shared test server must not be stopped under other tests.
/// </summary>
public sealed class PrivatePostgres : StoreFixture
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ifapi-pg-" + Guid.NewGuid().ToString("N")[..8]);

    public override Store.StoreProvider Provider => Store.StoreProvider.Postgres;

    public override async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        ConnectionString = (await RunAsync("start", "fast")).Trim();
        await using var conn = new NpgsqlConnection(ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("CREATE DATABASE ifapi", conn);
        await cmd.ExecuteNonQueryAsync();
        ConnectionString = new NpgsqlConnectionStringBuilder(ConnectionString) { Database = "ifapi" }.ConnectionString;
    }

    /// <summary>Stops the server as an operator would (<c>pg_ctl stop -m fast</c>): sessions are ended, new ones refused.</summary>
    public Task StopAsync() => RunAsync("pause");

    public Task StartAsync() => RunAsync("resume");

    public override async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await RunAsync("stop");
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private async Task<string> RunAsync(params string[] args)
    {
        var script = Script();
        var start = new System.Diagnostics.ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(args[0]);
        start.ArgumentList.Add(_dir);
        foreach (var a in args.Skip(1))
            start.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(start)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"scripts/postgres.sh {string.Join(' ', args)} failed: {await error}");
        return await output;
    }

    private static string Script()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var script = Path.Combine(dir.FullName, "scripts", "postgres.sh");
            if (File.Exists(script))
                return script;
        }
        throw new InvalidOperationException("scripts/postgres.sh was not found above the test's folder");
    }
}

/// <summary>PostgreSQL itself stopped under load, and started again.</summary>
public sealed class PostgresStopTests(PrivatePostgres server) : IClassFixture<PrivatePostgres>
{
    [Fact]
    public async Task PostgreSQL_stopped_under_load_gives_503_with_Retry_After_and_the_service_recovers_with_nothing_lost()
    {
        await using var service = await ServiceProcess.StartAsync(server);
        var storm = new Storm(() => service.Client(), clients: 16);
        using var stop = new CancellationTokenSource();
        var running = storm.RunAsync(stop.Token);
        await Task.Delay(TimeSpan.FromSeconds(2));
        await server.StopAsync();
        await Task.Delay(TimeSpan.FromSeconds(4));
        using (var meanwhile = service.Client())
        {
            var ready = await meanwhile.GetAsync("/readyz");
            await ready.Problem(HttpStatusCode.ServiceUnavailable, null);
            Assert.True(ready.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After is missing on /readyz");
        }
        var createdBefore = storm.Statuses.Count(s => s == 201);
        await server.StartAsync();
        await Task.Delay(TimeSpan.FromSeconds(5)); // it recovers by itself, under the same load
        stop.Cancel();
        await running;
        Assert.True(storm.Statuses.Count(s => s == 201) > createdBefore, "no create succeeded after PostgreSQL came back");

        Assert.NotEmpty(storm.Unavailable);
        foreach (var r in storm.Unavailable)
        {
            Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
            Assert.True(r.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After is missing");
        }
        Assert.False(storm.Statuses.Any(s => s >= 500 && s != 503),
            "an answer other than 503 said the service failed:\n" + string.Join('\n', service.Output.Where(l => l.Contains("fail", StringComparison.Ordinal) || l.Contains("xception", StringComparison.Ordinal)).Take(40)));
        using var http = service.Client();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz")).StatusCode);
        await http.CreateOk("tap");
        await storm.VerifyAsync(http, server);
    }
}
