using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;

namespace IfApi.Tests;

public sealed class SqliteLabTests(SqliteStore store) : LabTests<SqliteStore>(store);

public sealed class PostgresLabTests(PostgresStore store) : LabTests<PostgresStore>(store);

/// <summary>
/// The cloning open joined to a segment, <c>GET /v1/tap?bridge=NAME</c> (SPEC §9): what a lab's
/// emulators connect to. Each test works in a vnet of its own, so units and names are its own.
/// </summary>
public abstract class LabTests<TStore> : IClassFixture<TStore>, IAsyncLifetime where TStore : StoreFixture
{
    private const string RootSecret = "lab-root-secret-0123456789";
    private const string NoTapSecret = "lab-no-tap-secret-0123456789";
    private const string BoundSecret = "lab-bound-secret-0123456789";
    private const string BoundVnet = "labbound";

    private readonly TStore _store;
    private readonly IfApiFactory _factory;
    private readonly HttpClient _root;
    private readonly HttpClient _keyless; // each request brings its own key, or none
    private readonly List<TapClient> _open = [];

    protected LabTests(TStore store)
    {
        _store = store;
        _factory = store.NewFactory(
            ("Auth:Keys:root:Secret", RootSecret), ("Auth:Keys:root:Scopes", "read write admin tap"),
            ("Auth:Keys:notap:Secret", NoTapSecret), ("Auth:Keys:notap:Scopes", "read write"),
            ("Auth:Keys:bound:Secret", BoundSecret), ("Auth:Keys:bound:Scopes", "read write tap"), ("Auth:Keys:bound:Vnet", BoundVnet));
        _factory.UseKestrel(0);
        _factory.StartServer();
        _root = _factory.CreateClient();
        _keyless = _factory.CreateClient();
        _root.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", RootSecret);
    }

    private Uri Server => _root.BaseAddress!;

    public async Task InitializeAsync()
    {
        var r = await _root.PostAsJsonAsync("/v1/vnets", new { name = BoundVnet });
        Assert.True(r.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict, await r.Content.ReadAsStringAsync());
    }

    public async Task DisposeAsync()
    {
        foreach (var t in _open)
            await t.DisposeAsync();
        _root.Dispose();
        _keyless.Dispose();
        await _factory.DisposeAsync();
    }

    // ---- helpers ------------------------------------------------------------------------------

    /// <summary>A vnet of the test's own, room for <paramref name="room"/> interfaces.</summary>
    private async Task<string> NewVnet(int room = 64)
    {
        var name = "lab" + Guid.NewGuid().ToString("N")[..10];
        await (await _root.PostAsJsonAsync("/v1/vnets", new { name, maxInterfaces = room })).Json(HttpStatusCode.Created);
        return name;
    }

    private static string In(string vnet, string path) => $"/v1/vnets/{vnet}{path}";

    /// <summary>A bridge in <paramref name="vnet"/>, up unless told otherwise.</summary>
    private async Task<string> NewBridge(string vnet, bool up = true)
    {
        var b = (await (await _root.PostAsJsonAsync(In(vnet, "/interfaces"), new { cloner = "bridge", up })).Json(HttpStatusCode.Created)).Str("name");
        return b;
    }

    /// <summary>The cloning device onto <paramref name="bridge"/>: the socket, and the tap's name from its first message.</summary>
    private async Task<(TapClient Device, string Name)> Join(string vnet, string bridge, string secret = RootSecret, TimeSpan? wait = null)
    {
        var device = await TapClient.ConnectAsync(Server, In(vnet, $"/tap?bridge={bridge}&access_token={secret}"), wait: wait);
        _open.Add(device);
        var hello = await device.ReceiveTextAsync();
        Assert.NotNull(hello);
        return (device, JsonDocument.Parse(hello).RootElement.Str("name"));
    }

    private async Task<string[]> Members(string vnet, string bridge) =>
        (await _root.GetOk(In(vnet, $"/interfaces/{bridge}/members"))).Strings("members");

    private async Task<string[]> Names(string vnet) =>
        (await _root.GetOk(In(vnet, "/interfaces?limit=1000"))).Names();

    /// <summary>A cloning open sent as plain HTTP with <paramref name="secret"/>'s key, to read the problem a refused one answers.</summary>
    private Task<HttpResponseMessage> Upgrade(string path, string? secret = RootSecret) => _keyless.Upgrade(path, secret);

    private static async Task Eventually(Func<Task<bool>> condition, string what, double seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for: {what}");
            await Task.Delay(25);
        }
    }

    // ---- the segment ----------------------------------------------------------------------------

    [Fact]
    public async Task Two_visitors_of_a_bridge_are_on_one_segment_and_each_leaves_with_its_socket()
    {
        var vnet = await NewVnet();
        var bridge = await NewBridge(vnet);
        var (x, nx) = await Join(vnet, bridge);
        var (y, ny) = await Join(vnet, bridge);
        Assert.Equal(new[] { nx, ny }.Order(), (await Members(vnet, bridge)).Order());
        foreach (var name in new[] { nx, ny })
        {
            var ifp = await _root.GetOk(In(vnet, $"/interfaces/{name}"));
            Assert.True(ifp.GetProperty("up").GetBoolean());
            Assert.Contains("running", ifp.Strings("flags"));
        }

        // Nothing else joined them: a frame one sends, the other receives, both ways.
        var hello = Ether.Frame(Ether.Broadcast, Ether.Station(1), length: 64);
        await x.SendAsync(hello);
        Assert.Equal(hello, await y.ReceiveAsync());
        var answer = Ether.Frame(Ether.Station(1), Ether.Station(2), length: 1514);
        await y.SendAsync(answer);
        Assert.Equal(answer, await x.ReceiveAsync());

        // The one that closes leaves the bridge and is destroyed; the other stays.
        await x.CloseAsync();
        await Eventually(async () => (await _root.GetAsync(In(vnet, $"/interfaces/{nx}"))).StatusCode == HttpStatusCode.NotFound, "the closed tap destroyed");
        Assert.Equal([ny], await Members(vnet, bridge));
    }

    [Fact]
    public async Task A_visitor_that_reconnects_to_the_same_url_is_back_on_the_segment()
    {
        var vnet = await NewVnet();
        var bridge = await NewBridge(vnet);
        var (stay, _) = await Join(vnet, bridge);
        var (first, before) = await Join(vnet, bridge);
        first.Socket.Abort(); // as a dropped connection, not a polite close
        await Eventually(async () => !(await Members(vnet, bridge)).Contains(before), "the dropped tap gone from the bridge");

        var (again, after) = await Join(vnet, bridge);
        Assert.Contains(after, await Members(vnet, bridge));
        var frame = Ether.Frame(Ether.Broadcast, Ether.Station(7), length: 100);
        await again.SendAsync(frame);
        Assert.Equal(frame, await stay.ReceiveAsync());
    }

    [Fact]
    public async Task A_down_bridge_still_takes_the_visitor()
    {
        var vnet = await NewVnet();
        var bridge = await NewBridge(vnet, up: false);
        var (_, name) = await Join(vnet, bridge);
        Assert.Equal([name], await Members(vnet, bridge));
        Assert.False((await _root.GetOk(In(vnet, $"/interfaces/{bridge}"))).GetProperty("up").GetBoolean());
        Assert.True((await _root.GetOk(In(vnet, $"/interfaces/{name}"))).GetProperty("up").GetBoolean());
    }

    [Fact]
    public async Task Destroying_the_bridge_closes_its_visitors_with_1001_and_destroys_their_taps()
    {
        var vnet = await NewVnet();
        var bridge = await NewBridge(vnet);
        var (device, name) = await Join(vnet, bridge);
        Assert.Equal(HttpStatusCode.NoContent, (await _root.DeleteAsync(In(vnet, $"/interfaces/{bridge}"))).StatusCode);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, await device.ReceiveCloseAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("bridge destroyed", device.Socket.CloseStatusDescription);
        await Eventually(async () => (await _root.GetAsync(In(vnet, $"/interfaces/{name}"))).StatusCode == HttpStatusCode.NotFound, "its tap destroyed");
    }

    [Fact]
    public async Task Taking_the_member_out_by_hand_leaves_its_device_open()
    {
        // BRDGDEL is the lab's owner's call: the visitor stays connected, off the segment, as in the kernel.
        var vnet = await NewVnet();
        var bridge = await NewBridge(vnet);
        var (device, name) = await Join(vnet, bridge);
        Assert.Equal(HttpStatusCode.NoContent, (await _root.DeleteAsync(In(vnet, $"/interfaces/{bridge}/members/{name}"))).StatusCode);
        Assert.Null(await device.ReceiveCloseAsync(TimeSpan.FromMilliseconds(500)));
        Assert.Equal(WebSocketState.Open, device.Socket.State);
    }

    [Fact]
    public async Task A_visitor_moved_to_another_bridge_by_hand_stays_when_its_first_bridge_is_destroyed()
    {
        var vnet = await NewVnet();
        var (first, second) = (await NewBridge(vnet), await NewBridge(vnet));
        var (device, name) = await Join(vnet, first);
        Assert.Equal(HttpStatusCode.NoContent, (await _root.DeleteAsync(In(vnet, $"/interfaces/{first}/members/{name}"))).StatusCode);
        await (await _root.PutAsync(In(vnet, $"/interfaces/{second}/members/{name}"), null)).Json(HttpStatusCode.Created);
        Assert.Equal(HttpStatusCode.NoContent, (await _root.DeleteAsync(In(vnet, $"/interfaces/{first}"))).StatusCode);
        Assert.Null(await device.ReceiveCloseAsync(TimeSpan.FromMilliseconds(500)));
        Assert.Equal([name], await Members(vnet, second));
    }

    // ---- refusals, before the upgrade -------------------------------------------------------------

    [Fact]
    public async Task An_unknown_bridge_is_404_ENXIO_and_leaves_nothing()
    {
        var vnet = await NewVnet();
        var before = await Names(vnet);
        await (await Upgrade(In(vnet, "/tap?bridge=bridge9"))).Problem(HttpStatusCode.NotFound, "ENXIO");
        Assert.Equal(before, await Names(vnet));
        var (_, name) = await Join(vnet, await NewBridge(vnet));
        Assert.Equal("tap0", name); // the refused open took no unit
    }

    [Fact]
    public async Task Naming_what_is_not_a_bridge_is_422_EOPNOTSUPP_and_leaves_nothing()
    {
        var vnet = await NewVnet();
        var tap = (await (await _root.PostAsJsonAsync(In(vnet, "/interfaces"), new { name = "tap" })).Json(HttpStatusCode.Created)).Str("name");
        var before = await Names(vnet);
        foreach (var notABridge in new[] { tap, "lo0" })
            await (await Upgrade(In(vnet, $"/tap?bridge={notABridge}"))).Problem(HttpStatusCode.UnprocessableEntity, "EOPNOTSUPP");
        Assert.Equal(before, await Names(vnet));
    }

    [Fact]
    public async Task Joining_needs_the_tap_scope()
    {
        var vnet = await NewVnet();
        var bridge = await NewBridge(vnet);
        await (await Upgrade(In(vnet, $"/tap?bridge={bridge}"), NoTapSecret)).Problem(HttpStatusCode.Forbidden, "EPERM");
        await (await Upgrade(In(vnet, $"/tap?bridge={bridge}"), null)).Problem(HttpStatusCode.Unauthorized, "ENEEDAUTH");
        Assert.Empty(await Members(vnet, bridge));
    }

    [Fact]
    public async Task A_key_bound_to_a_vnet_joins_its_own_bridges_only()
    {
        var other = await NewVnet();
        var theirs = await NewBridge(other);
        var mine = (await (await _root.PostAsJsonAsync(In(BoundVnet, "/interfaces"), new { cloner = "bridge", up = true })).Json(HttpStatusCode.Created)).Str("name");

        // Through its own stack, a name is looked up in its vnet only.
        if (theirs != mine)
            await (await Upgrade($"/v1/tap?bridge={theirs}", BoundSecret)).Problem(HttpStatusCode.NotFound, "ENXIO");
        // Another vnet's path is not its to use: to it, that vnet does not exist.
        await (await Upgrade(In(other, $"/tap?bridge={theirs}"), BoundSecret)).Problem(HttpStatusCode.NotFound, "ENXIO");
        Assert.Empty(await Members(other, theirs));

        // Its own bridge, through the plain path.
        var device = await TapClient.ConnectAsync(Server, $"/v1/tap?bridge={mine}&access_token={BoundSecret}");
        _open.Add(device);
        var name = JsonDocument.Parse((await device.ReceiveTextAsync())!).RootElement.Str("name");
        Assert.Contains(name, await Members(BoundVnet, mine));
    }

    [Fact]
    public async Task A_bridge_parameter_on_the_named_device_is_an_unknown_parameter()
    {
        var vnet = await NewVnet();
        var bridge = await NewBridge(vnet);
        var tap = (await (await _root.PostAsJsonAsync(In(vnet, "/interfaces"), new { name = "tap" })).Json(HttpStatusCode.Created)).Str("name");
        await (await Upgrade(In(vnet, $"/interfaces/{tap}/tap?bridge={bridge}"))).Problem(HttpStatusCode.BadRequest, "EINVAL");
    }

    // ---- many at once -----------------------------------------------------------------------------

    [Fact]
    public async Task Two_hundred_visitors_at_once_then_all_gone_leave_nothing_behind()
    {
        const int visitors = 200;
        var vnet = await NewVnet(room: visitors + 8);
        var bridge = await NewBridge(vnet);
        var before = await Names(vnet);

        // At once: each waits its turn on the bridge, so the wait is long for the last.
        var joined = await Task.WhenAll(Enumerable.Range(0, visitors).Select(_ => Join(vnet, bridge, wait: TimeSpan.FromSeconds(120))));
        // Units exact: the lowest free ones, each once.
        var names = joined.Select(j => j.Name).ToList();
        Assert.Equal(Enumerable.Range(0, visitors).Select(u => $"tap{u}").Order(StringComparer.Ordinal), names.Order(StringComparer.Ordinal));
        Assert.Equal(names.Order(StringComparer.Ordinal), (await Members(vnet, bridge)).Order(StringComparer.Ordinal));

        // One segment: a broadcast from one reaches another.
        var frame = Ether.Frame(Ether.Broadcast, Ether.Station(200), length: 60);
        await joined[0].Device.SendAsync(frame);
        Assert.Equal(frame, await joined[^1].Device.ReceiveAsync(TimeSpan.FromSeconds(10)));

        await Task.WhenAll(joined.Select(j => j.Device.CloseAsync()));
        await Eventually(async () => (await Names(vnet)).SequenceEqual(before), "every visitor's tap destroyed", seconds: 120);
        Assert.Empty(await Members(vnet, bridge));
        await StoreInvariants.AssertConsistentAsync(_store);

        // Every unit came back: the next visitor is tap0 again.
        var (_, next) = await Join(vnet, bridge);
        Assert.Equal("tap0", next);
    }
}
