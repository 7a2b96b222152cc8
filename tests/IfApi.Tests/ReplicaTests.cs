using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;

namespace IfApi.Tests;

/// <summary>
/// Two service processes on one PostgreSQL database, as two replicas behind a load balancer:
/// allocation stays exact, events reach both, a tap's device is open on one replica at a time
/// (a lease in the store), and a killed holder's lease runs out.
/// </summary>
public sealed class ReplicaTests(PostgresStore store) : IClassFixture<PostgresStore>
{
    private static readonly (string, string)[] Settings = [.. AuthTests.Keys, ("Auth:Keys:all:Secret", AllSecret), ("Auth:Keys:all:Scopes", "read write tap"),
        ("Tap:LeaseSeconds", "2")];

    private const string AllSecret = "replica-test-secret-0123";

    private static async Task<ClientWebSocket> OpenAsync(ServiceProcess replica, string name)
    {
        var socket = new ClientWebSocket();
        var uri = new UriBuilder(replica.BaseAddress) { Scheme = "ws", Path = $"/v1/interfaces/{name}/tap", Query = $"access_token={AllSecret}" }.Uri;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(uri, timeout.Token);
        return socket;
    }

    private static async Task<string> RefusedAsync(ServiceProcess replica, string name)
    {
        var e = await Assert.ThrowsAnyAsync<WebSocketException>(() => OpenAsync(replica, name));
        return e.Message;
    }

    [Fact]
    public async Task A_tap_is_open_on_one_replica_at_a_time_and_a_killed_holders_lease_runs_out()
    {
        await using var a = await ServiceProcess.StartAsync(store, Settings);
        await using var b = await ServiceProcess.StartAsync(store, Settings);
        using var http = b.Client(AllSecret);
        var name = (await http.CreateOk("tap")).GetProperty("name").GetString()!;

        using (var onA = await OpenAsync(a, name))
        {
            Assert.Contains("409", await RefusedAsync(b, name)); // EBUSY before the upgrade
            Assert.Contains("running", (await http.GetOk($"/v1/interfaces/{name}")).Strings("flags"));
            // Held past several lease periods: the holder renews it.
            await Task.Delay(TimeSpan.FromSeconds(3));
            Assert.Contains("409", await RefusedAsync(b, name));
            await onA.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }
        // Closed on A: B may open it at once.
        await WaitForAsync(async () => !(await http.GetOk($"/v1/interfaces/{name}")).Strings("flags").Contains("running"));
        using (var onB = await OpenAsync(b, name))
            await onB.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);

        // A opens it and is killed: the lease stays until it runs out, then B may open it.
        await WaitForAsync(async () => !(await http.GetOk($"/v1/interfaces/{name}")).Strings("flags").Contains("running"));
        var held = await OpenAsync(a, name);
        await a.KillAsync();
        held.Abort();
        Assert.Contains("409", await RefusedAsync(b, name));
        await WaitForAsync(async () => !(await http.GetOk($"/v1/interfaces/{name}")).Strings("flags").Contains("running"), TimeSpan.FromSeconds(15));
        using var after = await OpenAsync(b, name);
        Assert.Equal(WebSocketState.Open, after.State);
    }

    [Fact]
    public async Task A_replica_that_finds_its_lease_taken_closes_the_device_with_1001()
    {
        await using var a = await ServiceProcess.StartAsync(store, Settings);
        using var http = a.Client(AllSecret);
        var name = (await http.CreateOk("tap")).GetProperty("name").GetString()!;
        var id = (await http.GetOk($"/v1/interfaces/{name}")).GetProperty("id").GetGuid();
        using var device = await OpenAsync(a, name);

        // As if A had been cut off from the store past its lease and another replica had opened the device.
        await using (var conn = new Npgsql.NpgsqlConnection(store.ConnectionString))
        {
            await conn.OpenAsync();
            await using var cmd = new Npgsql.NpgsqlCommand(
                "UPDATE tap_leases SET holder = 'another-replica', expires_at = @until WHERE interface_id = @id", conn);
            cmd.Parameters.AddWithValue("until", DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("id", id);
            Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[2048];
        WebSocketReceiveResult result;
        do
            result = await device.ReceiveAsync(buffer, timeout.Token);
        while (result.MessageType != WebSocketMessageType.Close);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, result.CloseStatus);
        Assert.Equal("lease lost", result.CloseStatusDescription);
    }

    [Fact]
    public async Task Allocation_is_exact_and_events_reach_both_replicas()
    {
        await using var a = await ServiceProcess.StartAsync(store, Settings);
        await using var b = await ServiceProcess.StartAsync(store, Settings);
        using var onB = b.Client(AuthTests.ReaderSecret);
        await using var events = await EventStream.OpenAsync(onB, query: "?type=interface-arrival");

        using (var admin = a.Client(AuthTests.AdminSecret))
            Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/v1/cloners", new { name = "rep", kind = "tap" })).StatusCode);
        var clients = new[] { a.Client(AuthTests.WriterSecret), b.Client(AuthTests.WriterSecret) };
        // Sixteen clients, half on each process, claiming units of one cloner at once.
        var created = await Task.WhenAll(Enumerable.Range(0, 16).Select(async i =>
        {
            var units = new List<int>();
            for (var j = 0; j < 10; j++)
                units.Add((await clients[i % 2].CreateOk("rep")).GetProperty("unit").GetInt32());
            return units;
        }));
        Assert.Equal(Enumerable.Range(0, 160), created.SelectMany(u => u).Order());
        var all = Enumerable.Range(0, 160).Select(u => $"rep{u}").ToList();
        await StoreInvariants.AssertConsistentAsync(store);

        // The subscriber on B hears every arrival, those A made included.
        var heard = new HashSet<string>();
        await events.ReadUntilAsync(e =>
        {
            heard.Add(e.Data.GetProperty("name").GetString()!);
            return all.All(heard.Contains);
        }, TimeSpan.FromSeconds(20));
        foreach (var c in clients)
            c.Dispose();
    }

    [Fact]
    public async Task The_frame_path_follows_what_another_replica_changes()
    {
        await using var a = await ServiceProcess.StartAsync(store, Settings);
        await using var b = await ServiceProcess.StartAsync(store, Settings);
        using var viaA = a.Client(AllSecret);
        using var viaB = b.Client(AllSecret);
        var name = await CreateUpAsync(viaA);
        using var device = await OpenAsync(a, name);

        await device.SendAsync(Frame, WebSocketMessageType.Binary, true, CancellationToken.None);
        await WaitForAsync(async () => Stat(await viaA.GetOk($"/v1/interfaces/{name}"), "ipackets") == 1);

        // Taken down through B: A's device must drop what is written into it from now on.
        Assert.Equal(HttpStatusCode.OK, (await viaB.Patch(name, """{"up":false}""")).StatusCode);
        await WaitForDropsAsync(device, viaA, name);
    }

    [Fact]
    public async Task A_port_loaded_before_any_device_opened_learns_what_another_replica_changed_meanwhile()
    {
        await using var a = await ServiceProcess.StartAsync(store, Settings);
        await using var b = await ServiceProcess.StartAsync(store, Settings);
        using var viaA = a.Client(AllSecret);
        using var viaB = b.Client(AllSecret);
        var name = await CreateUpAsync(viaA);
        // A transmit loads the port on A while no device is open there, so A follows nobody's changes yet.
        Assert.Equal(HttpStatusCode.Accepted, (await viaA.PostAsync($"/v1/interfaces/{name}/frames",
            new ByteArrayContent(Frame) { Headers = { ContentType = new("application/octet-stream") } })).StatusCode);

        // Taken down through B, and numbered in the event stream, before A opens the device.
        Assert.Equal(HttpStatusCode.OK, (await viaB.Patch(name, """{"up":false}""")).StatusCode);
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        using var device = await OpenAsync(a, name);
        await WaitForDropsAsync(device, viaA, name);
    }

    private static readonly byte[] Frame = Ether.Frame(Ether.Broadcast, Ether.Station(1));

    private static async Task<string> CreateUpAsync(HttpClient http)
    {
        var name = (await http.CreateOk("tap")).GetProperty("name").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await http.Patch(name, """{"up":true}""")).StatusCode);
        return name;
    }

    /// <summary>Writes into the device until the interface, read through <paramref name="http"/>, counts an input drop: it is down there.</summary>
    private static Task WaitForDropsAsync(ClientWebSocket device, HttpClient http, string name) => WaitForAsync(async () =>
    {
        await device.SendAsync(Frame, WebSocketMessageType.Binary, true, CancellationToken.None);
        return Stat(await http.GetOk($"/v1/interfaces/{name}"), "iqdrops") >= 1;
    });

    private static long Stat(JsonElement ifp, string counter) => ifp.GetProperty("stats").GetProperty(counter).GetInt64();

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not come true in time");
            await Task.Delay(100);
        }
    }
}
