namespace IfApi.Tests;

public sealed class SqliteWarmStartTests(SqliteStore store) : WarmStartTests<SqliteStore>(store);

public sealed class PostgresWarmStartTests(PostgresStore store) : WarmStartTests<PostgresStore>(store);

/// <summary>
/// The warm start (SPEC §9): before the service answers, a cloning open onto a bridge and its close
/// run once as a dry run, so the first visitor does not wait for what is compiled on first use. It
/// must run, and it must leave nothing a client could see.
/// </summary>
public abstract class WarmStartTests<TStore>(TStore store) : IClassFixture<TStore> where TStore : StoreFixture
{
    [Fact]
    public async Task The_tap_path_is_warmed_before_the_first_request_and_leaves_nothing()
    {
        var logs = new CapturedLogs();
        await using var factory = new IfApiFactory(store.Provider, store.ConnectionString, [("Logging:LogLevel:IfApi.Tap", "Debug")]) { Logs = logs };
        using var client = factory.CreateClient();
        Assert.Equal(System.Net.HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);

        Assert.Contains(logs.Lines, l => l.Contains("the tap path is warm", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Contains("warming the tap path failed", StringComparison.Ordinal));
        // Rolled back: no tap or bridge, no event of one, no unit of theirs taken.
        Assert.Equal(["lo0"], (await client.GetOk("/v1/interfaces")).Names());
        Assert.Equal(0L, await StoreSql.ScalarAsync<long>(store, "SELECT count(*) FROM events WHERE subject LIKE 'tap%' OR subject LIKE 'bridge%'"));
        await StoreInvariants.AssertConsistentAsync(store);
        var first = await (await client.PostAsync("/v1/interfaces", new StringContent("""{"name":"tap"}""", System.Text.Encoding.UTF8, "application/json"))).Json(System.Net.HttpStatusCode.Created);
        Assert.Equal("tap0", first.Str("name"));
        Assert.Equal(2, first.Int("index")); // lo0 is 1: the dry run's bridge and tap took no index
    }
}
