using System.Net;
using IfApi.Store;
using Npgsql;

namespace IfApi.Tests;

/// <summary>Creates on different cloners do not wait for each other; creates on one cloner do.</summary>
public sealed class PoolLockTests(PostgresStore store) : IClassFixture<PostgresStore>
{
    [Fact]
    public async Task A_held_cloner_pool_blocks_only_that_cloners_creates()
    {
        using var factory = store.NewFactory();
        using var http = factory.CreateClient();
        await http.CreateOk("bridge"); // the service is up and warm

        // Another replica (here: a bare connection) is inside a transaction on tap's pool.
        await using var other = new NpgsqlConnection(store.ConnectionString);
        await other.OpenAsync();
        await using var tx = await other.BeginTransactionAsync();
        await using (var cmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtext('tap'))", other, tx))
            await cmd.ExecuteNonQueryAsync();

        var tapCreate = http.Create("tap");
        var bridge = await http.Create("bridge").WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(HttpStatusCode.Created, bridge.StatusCode);
        await Task.Delay(300);
        Assert.False(tapCreate.IsCompleted, "a create on tap went ahead while tap's pool was held");

        await tx.CommitAsync();
        Assert.Equal(HttpStatusCode.Created, (await tapCreate.WaitAsync(TimeSpan.FromSeconds(20))).StatusCode);
        await StoreInvariants.AssertConsistentAsync(store);
    }
}
