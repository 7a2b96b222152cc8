using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;

namespace IfApi.Tests;

/// <summary>
/// What one client may take: open devices (<c>Tap:MaxOpen</c>), request bodies
/// (<c>Kestrel:Limits:MaxRequestBodySize</c>), and messages on a device, which are never buffered
/// beyond a frame's length however long they are.
/// Runs alone: it counts what the process allocates, and other tests would allocate meanwhile.
/// </summary>
[Collection(nameof(Alone))]
public sealed class LimitsTests : IClassFixture<SqliteStore>, IAsyncLifetime
{
    private const int MaxOpen = 3;
    private readonly IfApiFactory _factory;
    private readonly HttpClient _client;
    private readonly List<TapClient> _open = [];

    public LimitsTests(SqliteStore store)
    {
        _factory = store.NewFactory(("Tap:MaxOpen", MaxOpen.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        _factory.UseKestrel(0);
        _factory.StartServer();
        _client = _factory.CreateClient();
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var t in _open)
            await t.DisposeAsync();
        _client.Dispose();
        await _factory.DisposeAsync();
    }

    private async Task<string> NewTap(bool up = false)
    {
        var name = (await _client.CreateOk("tap")).GetProperty("name").GetString()!;
        if (up)
            Assert.Equal(HttpStatusCode.OK, (await _client.Patch(name, """{"up":true}""")).StatusCode);
        return name;
    }

    [Fact]
    public async Task Past_Tap_MaxOpen_devices_an_open_is_503_ENFILE_until_one_closes()
    {
        var names = new List<string>();
        for (var i = 0; i < MaxOpen + 1; i++)
            names.Add(await NewTap());
        for (var i = 0; i < MaxOpen; i++)
            _open.Add(await TapClient.ConnectAsync(_client.BaseAddress!, $"/v1/interfaces/{names[i]}/tap"));

        var refused = await _client.Upgrade($"/v1/interfaces/{names[MaxOpen]}/tap");
        var problem = await refused.Problem(HttpStatusCode.ServiceUnavailable, "ENFILE");
        Assert.Contains("Tap:MaxOpen", problem.GetProperty("detail").GetString());
        Assert.NotNull(refused.Headers.RetryAfter);
        await (await _client.Upgrade("/v1/tap")).Problem(HttpStatusCode.ServiceUnavailable, "ENFILE"); // the cloning device too
        Assert.DoesNotContain("running", (await _client.GetOk($"/v1/interfaces/{names[MaxOpen]}")).Strings("flags"));

        // One closes: its place is free again.
        await _open[0].DisposeAsync();
        _open.RemoveAt(0);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                _open.Add(await TapClient.ConnectAsync(_client.BaseAddress!, $"/v1/interfaces/{names[MaxOpen]}/tap"));
                break;
            }
            catch (WebSocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50); // the close is still being settled
            }
        }
    }

    [Fact]
    public async Task A_100_MB_message_is_one_input_error_read_through_without_being_kept()
    {
        var name = await NewTap(up: true);
        var tap = await TapClient.ConnectAsync(_client.BaseAddress!, $"/v1/interfaces/{name}/tap");
        _open.Add(tap);
        var chunk = new byte[256 * 1024];
        Ether.Frame(Ether.Broadcast, Ether.Station(1)).CopyTo(chunk, 0);

        var before = GC.GetTotalAllocatedBytes(precise: true);
        const int total = 100 * 1024 * 1024;
        for (var sent = 0; sent < total; sent += chunk.Length)
            await tap.Socket.SendAsync(chunk, WebSocketMessageType.Binary, endOfMessage: sent + chunk.Length >= total, CancellationToken.None);
        await tap.SendAsync(Ether.Frame(Ether.Broadcast, Ether.Station(1))); // the socket still carries frames

        var deadline = DateTime.UtcNow.AddSeconds(30);
        System.Text.Json.JsonElement stats;
        do
        {
            stats = (await _client.GetOk($"/v1/interfaces/{name}")).GetProperty("stats");
            if (stats.GetProperty("ipackets").GetInt64() == 1)
                break;
            await Task.Delay(50);
        }
        while (DateTime.UtcNow < deadline);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.Equal(1, stats.GetProperty("ierrors").GetInt64());
        Assert.Equal(1, stats.GetProperty("ipackets").GetInt64());
        Assert.Equal(WebSocketState.Open, tap.Socket.State);
        // Client and server together, in this process: far below the message's 100 MB.
        Assert.True(allocated < 32 * 1024 * 1024, $"{allocated / 1024 / 1024} MB allocated while 100 MB went by");
    }

    [Fact]
    public async Task A_body_past_the_request_limit_is_413_problem_json()
    {
        var json = "{\"name\":\"tap\",\"params\":{\"lladdr\":\"" + new string('a', 2 * 1024 * 1024) + "\"}}";
        var body = new StringContent(json, Encoding.UTF8, "application/json");
        var r = await _client.PostAsync("/v1/interfaces", body);
        await r.Problem(HttpStatusCode.RequestEntityTooLarge, "EINVAL");
        var frame = new ByteArrayContent(new byte[2 * 1024 * 1024]) { Headers = { ContentType = new("application/octet-stream") } };
        var name = await NewTap();
        var tooBig = await _client.PostAsync($"/v1/interfaces/{name}/frames", frame);
        Assert.True(tooBig.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge, tooBig.StatusCode.ToString());
        Assert.Equal("application/problem+json", tooBig.Content.Headers.ContentType?.MediaType);
    }
}
