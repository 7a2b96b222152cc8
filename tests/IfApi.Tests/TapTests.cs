using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text.Json;
using IfApi.Frames.Wire;

namespace IfApi.Tests;

public sealed class SqliteTapTests(SqliteStore store) : TapTests<SqliteStore>(store);

public sealed class PostgresTapTests(PostgresStore store) : TapTests<PostgresStore>(store);

/// <summary>
/// The tap devices over real sockets (Kestrel on a loopback port), as a client of each would see
/// them: §4 of the specification, rule by rule.
/// </summary>
public abstract class TapTests<TStore> : IClassFixture<TStore>, IAsyncLifetime where TStore : StoreFixture
{
    private const int QueueLength = 64;
    private readonly List<TapClient> _taps = [];

    protected TapTests(TStore store)
    {
        Factory = store.NewFactory(("Tap:QueueLength", QueueLength.ToString()));
        Factory.UseKestrel(0);
        Factory.StartServer();
        Client = Factory.CreateClient();
    }

    protected IfApiFactory Factory { get; }
    protected HttpClient Client { get; }
    private Uri Server => Client.BaseAddress!;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var t in _taps)
            await t.DisposeAsync();
        Client.Dispose();
        await Factory.DisposeAsync();
    }

    // ---- helpers ------------------------------------------------------------------------------

    private async Task<TapClient> Open(string name, string? protocol = null)
    {
        var tap = await TapClient.ConnectAsync(Server, $"/v1/interfaces/{name}/tap", protocol);
        _taps.Add(tap);
        return tap;
    }

    /// <summary>A new tap of a cloner of this test's own, up.</summary>
    private async Task<string> NewTap(string cloner, bool up = true)
    {
        var name = (await Client.CreateOk(cloner)).Str("name");
        if (up)
            await Up(name);
        return name;
    }

    private async Task Up(string name, bool up = true) =>
        await (await Client.Patch(name, up ? """{"up":true}""" : """{"up":false}""")).Json();

    private async Task AddMember(string bridge, string member, HttpStatusCode expected = HttpStatusCode.Created) =>
        await (await Client.PutAsync($"/v1/interfaces/{bridge}/members/{member}", null)).Json(expected);

    /// <summary>An up bridge with the given members.</summary>
    private async Task<string> NewBridge(params string[] members)
    {
        var bridge = (await Client.CreateOk(await Client.AttachCloner("bridge"))).Str("name");
        await Up(bridge);
        foreach (var m in members)
            await AddMember(bridge, m);
        return bridge;
    }

    /// <summary>Two up taps of a new cloner, in a new up bridge, both open (a with <paramref name="protocolA"/>).</summary>
    private async Task<(string A, string B, string Bridge, TapClient TA, TapClient TB)> TwoBridged(string? protocolA = null)
    {
        var cloner = await Client.AttachCloner();
        var (a, b) = (await NewTap(cloner), await NewTap(cloner));
        var bridge = await NewBridge(a, b);
        return (a, b, bridge, await Open(a, protocolA), await Open(b));
    }

    private async Task<JsonElement> Stats(string name) => (await Client.GetOk($"/v1/interfaces/{name}")).GetProperty("stats");

    private static long Stat(JsonElement stats, string counter) => stats.GetProperty(counter).GetInt64();

    /// <summary>Waits for a condition on the service's state (what a close sets happens after the socket is done).</summary>
    private static async Task Eventually(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for: {what}");
            await Task.Delay(25);
        }
    }

    private async Task<bool> Running(string name) =>
        (await Client.GetOk($"/v1/interfaces/{name}")).Strings("flags").Contains("running");

    private static readonly byte[] A = Ether.Station(1), B = Ether.Station(2), C = Ether.Station(3);

    // ---- the device -----------------------------------------------------------------------------

    [Fact]
    public async Task Opening_an_unknown_interface_is_ENXIO_and_a_non_tap_EOPNOTSUPP()
    {
        await (await Client.Upgrade("/v1/interfaces/nosuch0/tap")).Problem(HttpStatusCode.NotFound, "ENXIO");
        var epair = (await Client.CreateOk(await Client.AttachCloner("epair"))).Str("name");
        await (await Client.Upgrade($"/v1/interfaces/{epair}/tap")).Problem(HttpStatusCode.UnprocessableEntity, "EOPNOTSUPP");
        var bridge = await NewBridge();
        await (await Client.Upgrade($"/v1/interfaces/{bridge}/tap")).Problem(HttpStatusCode.UnprocessableEntity, "EOPNOTSUPP");
    }

    [Fact]
    public async Task A_plain_request_for_the_device_is_EINVAL()
    {
        var tap = await NewTap(await Client.AttachCloner());
        await (await Client.GetAsync($"/v1/interfaces/{tap}/tap")).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.GetAsync("/v1/tap")).Problem(HttpStatusCode.BadRequest, "EINVAL");
    }

    [Fact]
    public async Task The_device_has_one_opener_at_a_time_and_opening_sets_running_until_it_closes()
    {
        var tap = await NewTap(await Client.AttachCloner());
        Assert.False(await Running(tap));
        var first = await Open(tap);
        Assert.True(await Running(tap));
        await (await Client.Upgrade($"/v1/interfaces/{tap}/tap")).Problem(HttpStatusCode.Conflict, "EBUSY");
        var refused = await Assert.ThrowsAnyAsync<WebSocketException>(() => TapClient.ConnectAsync(Server, $"/v1/interfaces/{tap}/tap"));
        Assert.Contains("409", refused.Message);

        await first.CloseAsync();
        await Eventually(async () => !await Running(tap), "running cleared after the close");
        var second = await Open(tap);
        Assert.True(await Running(tap));
    }

    [Fact]
    public async Task A_close_followed_at_once_by_an_open_leaves_the_tap_running()
    {
        // The close's clearing of running must not land after the next open set it.
        var tap = await NewTap(await Client.AttachCloner());
        for (var i = 0; i < 10; i++)
        {
            var device = await TapClient.ConnectAsync(Server, $"/v1/interfaces/{tap}/tap");
            await device.CloseAsync();
            device.Socket.Dispose();
            TapClient? again = null;
            await Eventually(async () =>
            {
                try
                {
                    again = await TapClient.ConnectAsync(Server, $"/v1/interfaces/{tap}/tap");
                    return true;
                }
                catch (WebSocketException)
                {
                    return false; // the close is still being settled: EBUSY
                }
            }, "the device free again");
            await Task.Delay(100);
            Assert.True(await Running(tap), $"running after reopen {i}");
            await again!.DisposeAsync();
        }
    }

    [Fact]
    public async Task Destroying_the_interface_closes_its_socket_with_1001()
    {
        var tap = await NewTap(await Client.AttachCloner());
        var device = await Open(tap);
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{tap}")).StatusCode);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, await device.ReceiveCloseAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task The_cloning_device_creates_an_up_tap_names_it_first_and_destroys_it_on_close()
    {
        await using var device = await TapClient.ConnectAsync(Server, "/v1/tap");
        var hello = JsonDocument.Parse((await device.ReceiveTextAsync())!).RootElement;
        var name = hello.Str("name");
        Assert.Matches("^tap[0-9]+$", name);
        var ifp = await Client.GetOk($"/v1/interfaces/{name}");
        Assert.True(ifp.GetProperty("up").GetBoolean());
        Assert.Contains("running", ifp.Strings("flags"));

        // It is a working device: a frame sent out of it reaches this socket.
        var frame = Ether.Frame(Ether.Broadcast, A);
        Assert.Equal(HttpStatusCode.Accepted, (await Client.PostAsync($"/v1/interfaces/{name}/frames", Octets(frame))).StatusCode);
        Assert.Equal(frame, await device.ReceiveAsync());

        await device.CloseAsync();
        await Eventually(async () => (await Client.GetAsync($"/v1/interfaces/{name}")).StatusCode == HttpStatusCode.NotFound, "the cloned tap destroyed");
    }

    [Fact]
    public async Task The_cloning_device_speaks_the_plain_framing_an_emulator_expects()
    {
        // v86 and jor1k: no subprotocol, one binary message per frame, both ways.
        await using var x = await TapClient.ConnectAsync(Server, "/v1/tap");
        await using var y = await TapClient.ConnectAsync(Server, "/v1/tap");
        Assert.Null(x.Socket.SubProtocol);
        var nx = JsonDocument.Parse((await x.ReceiveTextAsync())!).RootElement.Str("name");
        var ny = JsonDocument.Parse((await y.ReceiveTextAsync())!).RootElement.Str("name");
        await NewBridge(nx, ny);
        var frame = Ether.Frame(Ether.Broadcast, A, length: 342);
        await x.SendAsync(frame);
        Assert.Equal(frame, await y.ReceiveAsync());
    }

    // ---- the pipeline ---------------------------------------------------------------------------

    [Fact]
    public async Task Runts_and_oversized_frames_are_input_errors_not_disconnects()
    {
        var (a, b, _, ta, tb) = await TwoBridged();
        await ta.SendRawAsync(new byte[13]);
        await ta.SendRawAsync(Ether.Frame(Ether.Broadcast, A, length: 1500 + 14 + 1));
        await ta.SendRawAsync(new byte[70_000]); // longer than any frame: read through and counted
        var tagged = Ether.Frame(Ether.Broadcast, A, length: 1500 + 18);
        (tagged[12], tagged[13]) = (0x81, 0x00); // an 802.1Q tag allows four bytes more
        await ta.SendRawAsync(tagged);
        var fine = Ether.Frame(Ether.Broadcast, A, length: 1514);
        await ta.SendRawAsync(fine);

        Assert.Equal(tagged, await tb.ReceiveAsync());
        Assert.Equal(fine, await tb.ReceiveAsync());
        Assert.Equal(WebSocketState.Open, ta.Socket.State);
        var stats = await Stats(a);
        Assert.Equal(3, Stat(stats, "ierrors"));
        Assert.Equal(2, Stat(stats, "ipackets"));
        Assert.Equal(1514 + 1518, Stat(stats, "ibytes"));
    }

    [Fact]
    public async Task A_raised_MTU_lets_longer_frames_in_while_open()
    {
        var (a, b, _, ta, tb) = await TwoBridged();
        await (await Client.Patch(a, """{"mtu":9000}""")).Json();
        await (await Client.Patch(b, """{"mtu":9000}""")).Json();
        var jumbo = Ether.Frame(Ether.Broadcast, A, length: 9014);
        await ta.SendAsync(jumbo);
        Assert.Equal(jumbo, await tb.ReceiveAsync());
    }

    [Fact]
    public async Task While_down_nothing_passes_either_way_and_it_is_counted()
    {
        var (a, b, _, ta, tb) = await TwoBridged();
        await Up(b, false);
        await ta.SendAsync(Ether.Frame(Ether.Broadcast, A));   // b is down: not transmitted
        await tb.SendAsync(Ether.Frame(Ether.Broadcast, B));   // written into a down b: not received
        Assert.Null(await tb.ReceiveAsync(TimeSpan.FromMilliseconds(300)));
        Assert.Null(await ta.ReceiveAsync(TimeSpan.FromMilliseconds(300)));
        await Eventually(async () => Stat(await Stats(b), "oqdrops") == 1 && Stat(await Stats(b), "iqdrops") == 1, "b's drops counted");

        await Up(b);
        var frame = Ether.Frame(Ether.Broadcast, A, mark: 7);
        await ta.SendAsync(frame);
        Assert.Equal(frame, await tb.ReceiveAsync());
    }

    [Fact]
    public async Task A_stalled_reader_drops_its_own_frames_and_slows_nobody()
    {
        var cloner = await Client.AttachCloner();
        var (a, b, c) = (await NewTap(cloner), await NewTap(cloner), await NewTap(cloner));
        await NewBridge(a, b, c);
        var ta = await Open(a);
        var tb = await Open(b);
        var tc = await Open(c); // never reads until the end
        const int count = 4000;
        for (var i = 0; i < count; i++)
        {
            // One at a time, each seen by b before the next: b must get every one however far c is behind.
            await ta.SendAsync(Ether.Frame(Ether.Broadcast, A, length: 1514, mark: i));
            var got = await tb.ReceiveAsync();
            Assert.True(got is not null && Ether.Mark(got) == i, $"b missed frame {i}");
        }
        var stats = await Stats(c);
        var dropped = Stat(stats, "oqdrops");
        Assert.True(dropped > 0, "c's queue overflowed and counted it");
        Assert.Equal(0, Stat(await Stats(b), "oqdrops"));

        // What c gets when it finally reads is what was not dropped, in order; its queue held at most QueueLength.
        var late = await tc.ReceiveAllAsync(TimeSpan.FromSeconds(1));
        Assert.Equal(count - dropped, late.Count);
        Assert.Equal(late.Select(Ether.Mark).Order(), late.Select(Ether.Mark));
        Assert.Equal(count - dropped, Stat(await Stats(c), "opackets"));
    }

    // ---- the bridge -----------------------------------------------------------------------------

    [Fact]
    public async Task The_bridge_floods_unknown_and_broadcast_learns_stations_and_never_echoes()
    {
        var cloner = await Client.AttachCloner();
        var (a, b, c) = (await NewTap(cloner), await NewTap(cloner), await NewTap(cloner));
        await NewBridge(a, b, c);
        var ta = await Open(a);
        var tb = await Open(b);
        var tc = await Open(c);

        var hello = Ether.Frame(Ether.Broadcast, A, mark: 1);
        await ta.SendAsync(hello);
        Assert.Equal(hello, await tb.ReceiveAsync());
        Assert.Equal(hello, await tc.ReceiveAsync());

        var reply = Ether.Frame(A, B, mark: 2); // A is known now: to a alone
        await tb.SendAsync(reply);
        Assert.Equal(reply, await ta.ReceiveAsync());

        var toUnknown = Ether.Frame(Ether.Station(99), C, mark: 3);
        await tc.SendAsync(toUnknown);
        Assert.Equal(toUnknown, await ta.ReceiveAsync());
        Assert.Equal(toUnknown, await tb.ReceiveAsync());

        var toB = Ether.Frame(B, A, mark: 4); // B is known: c does not get it
        await ta.SendAsync(toB);
        Assert.Equal(toB, await tb.ReceiveAsync());

        // Nothing else anywhere: no echo to a sender, no copy of b's or a's unicast to c.
        Assert.Empty(await ta.ReceiveAllAsync());
        Assert.Empty(await tb.ReceiveAllAsync());
        Assert.Empty(await tc.ReceiveAllAsync());
    }

    [Fact]
    public async Task A_member_that_leaves_is_forgotten_and_one_that_joins_is_flooded_to()
    {
        var cloner = await Client.AttachCloner();
        var (a, b, c) = (await NewTap(cloner), await NewTap(cloner), await NewTap(cloner));
        var bridge = await NewBridge(a, b);
        var ta = await Open(a);
        var tb = await Open(b);
        var tc = await Open(c);
        await tb.SendAsync(Ether.Frame(Ether.Broadcast, B));
        await ta.ReceiveAsync();

        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{bridge}/members/{b}")).StatusCode);
        await AddMember(bridge, c);
        // B was learned on b, which left: a frame to B now floods, to c.
        var toB = Ether.Frame(B, A);
        await ta.SendAsync(toB);
        Assert.Equal(toB, await tc.ReceiveAsync());
        Assert.Null(await tb.ReceiveAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task Membership_is_stored_and_checked_as_BRDGADD_checks_it()
    {
        var cloner = await Client.AttachCloner();
        var (a, b) = (await NewTap(cloner), await NewTap(cloner));
        var bridge = await NewBridge();
        var other = await NewBridge();

        var added = await (await Client.PutAsync($"/v1/interfaces/{bridge}/members/{a}", null)).Json(HttpStatusCode.Created);
        Assert.Equal([a], added.Strings("members"));
        await AddMember(bridge, a, HttpStatusCode.OK);
        await AddMember(bridge, b);
        Assert.Equal([a, b], (await Client.GetOk($"/v1/interfaces/{bridge}/members")).Strings("members"));
        Assert.Equal([a, b], (await Client.GetOk($"/v1/interfaces/{bridge}")).Strings("members"));
        Assert.False((await Client.GetOk($"/v1/interfaces/{a}")).TryGetProperty("members", out _));

        await (await Client.PutAsync($"/v1/interfaces/{other}/members/{a}", null)).Problem(HttpStatusCode.Conflict, "EBUSY");
        await (await Client.PutAsync($"/v1/interfaces/{other}/members/lo0", null)).Problem(HttpStatusCode.UnprocessableEntity, "EOPNOTSUPP");
        await (await Client.PutAsync($"/v1/interfaces/{other}/members/{bridge}", null)).Problem(HttpStatusCode.UnprocessableEntity, "EOPNOTSUPP");
        await (await Client.PutAsync($"/v1/interfaces/{other}/members/nosuch0", null)).Problem(HttpStatusCode.NotFound, "ENOENT");
        await (await Client.PutAsync($"/v1/interfaces/nosuch0/members/{a}", null)).Problem(HttpStatusCode.NotFound, "ENXIO");
        await (await Client.PutAsync($"/v1/interfaces/{a}/members/{b}", null)).Problem(HttpStatusCode.UnprocessableEntity, "EOPNOTSUPP");
        await (await Client.DeleteAsync($"/v1/interfaces/{other}/members/{a}")).Problem(HttpStatusCode.NotFound, "ENOENT");

        // A member destroyed leaves the bridge, whose version moves; a bridge destroyed releases its members.
        var version = (await Client.GetOk($"/v1/interfaces/{bridge}")).GetProperty("version").GetInt64();
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{b}")).StatusCode);
        Assert.Equal([a], (await Client.GetOk($"/v1/interfaces/{bridge}/members")).Strings("members"));
        Assert.Equal(version + 1, (await Client.GetOk($"/v1/interfaces/{bridge}")).GetProperty("version").GetInt64());
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{bridge}")).StatusCode);
        await AddMember(other, a);
    }

    [Fact]
    public async Task Detaching_a_cloner_takes_its_clones_out_of_their_bridges()
    {
        var cloner = await Client.AttachCloner();
        var (a, other) = (await NewTap(cloner), await NewTap(await Client.AttachCloner()));
        var bridge = await NewBridge(a, other);
        var version = (await Client.GetOk($"/v1/interfaces/{bridge}")).GetProperty("version").GetInt64();
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/cloners/{cloner}")).StatusCode);
        var after = await Client.GetOk($"/v1/interfaces/{bridge}");
        Assert.Equal([other], after.Strings("members"));
        Assert.Equal(version + 1, after.GetProperty("version").GetInt64());
    }

    [Fact]
    public async Task A_member_change_moves_the_bridge_version_and_honours_If_Match()
    {
        var tap = await NewTap(await Client.AttachCloner());
        var bridge = await NewBridge();
        var before = await Client.GetAsync($"/v1/interfaces/{bridge}");
        var etag = before.Headers.ETag!.Tag;
        var put = new HttpRequestMessage(HttpMethod.Put, $"/v1/interfaces/{bridge}/members/{tap}");
        put.Headers.TryAddWithoutValidation("If-Match", "\"999\"");
        await (await Client.SendAsync(put)).Problem(HttpStatusCode.PreconditionFailed, "ESTALE");
        put = new HttpRequestMessage(HttpMethod.Put, $"/v1/interfaces/{bridge}/members/{tap}");
        put.Headers.TryAddWithoutValidation("If-Match", etag);
        var r = await Client.SendAsync(put);
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        Assert.NotEqual(etag, r.Headers.ETag!.Tag);
    }

    [Fact]
    public async Task A_down_bridge_forwards_nothing()
    {
        var (a, b, bridge, ta, tb) = await TwoBridged();
        await Up(bridge, false);
        await ta.SendAsync(Ether.Frame(Ether.Broadcast, A));
        Assert.Null(await tb.ReceiveAsync(TimeSpan.FromMilliseconds(300)));
        await Up(bridge);
        var frame = Ether.Frame(Ether.Broadcast, A, mark: 5);
        await ta.SendAsync(frame);
        Assert.Equal(frame, await tb.ReceiveAsync());
    }

    // ---- epair ----------------------------------------------------------------------------------

    [Fact]
    public async Task Two_bridges_joined_by_an_epair_pass_frames_both_ways()
    {
        var cloner = await Client.AttachCloner();
        var (a, b) = (await NewTap(cloner), await NewTap(cloner));
        var pair = await Client.CreateOk(await Client.AttachCloner("epair"));
        var (ea, eb) = (pair.Str("name"), pair.Str("peer"));
        await Up(ea);
        await Up(eb);
        await NewBridge(a, ea);
        await NewBridge(eb, b);
        var ta = await Open(a);
        var tb = await Open(b);

        var hello = Ether.Frame(Ether.Broadcast, A, mark: 1);
        await ta.SendAsync(hello);
        Assert.Equal(hello, await tb.ReceiveAsync());
        var reply = Ether.Frame(A, B, mark: 2);
        await tb.SendAsync(reply);
        Assert.Equal(reply, await ta.ReceiveAsync());
        Assert.Equal(2, Stat(await Stats(ea), "opackets") + Stat(await Stats(ea), "ipackets"));
        Assert.Equal(1, Stat(await Stats(eb), "opackets"));
    }

    [Fact]
    public async Task A_loop_of_bridges_and_epairs_does_not_take_the_service_down()
    {
        // No spanning tree: a broadcast in a loop circles, and is cut after a few cables.
        var cloner = await Client.AttachCloner();
        var a = await NewTap(cloner);
        var epairs = await Client.AttachCloner("epair");
        var p1 = await Client.CreateOk(epairs);
        var p2 = await Client.CreateOk(epairs);
        foreach (var e in new[] { p1.Str("name"), p1.Str("peer"), p2.Str("name"), p2.Str("peer") })
            await Up(e);
        await NewBridge(a, p1.Str("name"), p2.Str("name"));
        await NewBridge(p1.Str("peer"), p2.Str("peer"));
        var ta = await Open(a);
        await ta.SendAsync(Ether.Frame(Ether.Broadcast, A));
        await ta.ReceiveAllAsync();
        Assert.Equal(WebSocketState.Open, ta.Socket.State);
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync($"/v1/interfaces/{a}")).StatusCode);
    }

    // ---- the transmit endpoint ------------------------------------------------------------------

    private static ByteArrayContent Octets(byte[] bytes)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return content;
    }

    [Fact]
    public async Task A_transmitted_frame_reaches_the_reader_or_is_counted_and_dropped()
    {
        var tap = await NewTap(await Client.AttachCloner());
        var frame = Ether.Frame(A, B, mark: 9);
        // Nobody has the device open: sent and dropped, as tap_start counts it.
        Assert.Equal(HttpStatusCode.Accepted, (await Client.PostAsync($"/v1/interfaces/{tap}/frames", Octets(frame))).StatusCode);
        Assert.Equal(1, Stat(await Stats(tap), "opackets"));

        var device = await Open(tap);
        Assert.Equal(HttpStatusCode.Accepted, (await Client.PostAsync($"/v1/interfaces/{tap}/frames", Octets(frame))).StatusCode);
        Assert.Equal(frame, await device.ReceiveAsync());
        await Eventually(async () => Stat(await Stats(tap), "opackets") == 2 && Stat(await Stats(tap), "obytes") == 120, "the second counted when read");
    }

    [Fact]
    public async Task A_frame_out_of_a_bridge_goes_to_its_members()
    {
        var (a, b, bridge, ta, tb) = await TwoBridged();
        var frame = Ether.Frame(Ether.Broadcast, C);
        Assert.Equal(HttpStatusCode.Accepted, (await Client.PostAsync($"/v1/interfaces/{bridge}/frames", Octets(frame))).StatusCode);
        Assert.Equal(frame, await ta.ReceiveAsync());
        Assert.Equal(frame, await tb.ReceiveAsync());
    }

    [Fact]
    public async Task Bad_frames_and_interfaces_without_frames_are_refused()
    {
        var tap = await NewTap(await Client.AttachCloner());
        await (await Client.PostAsync($"/v1/interfaces/{tap}/frames", Octets(new byte[13]))).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.PostAsync($"/v1/interfaces/{tap}/frames", Octets(new byte[1515]))).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.PostAsync($"/v1/interfaces/{tap}/frames", Octets(new byte[200_000]))).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.PostAsync($"/v1/interfaces/{tap}/frames", new StringContent("hello"))).Problem(HttpStatusCode.UnsupportedMediaType, "EINVAL");
        await (await Client.PostAsync("/v1/interfaces/lo0/frames", Octets(new byte[60]))).Problem(HttpStatusCode.UnprocessableEntity, "EOPNOTSUPP");
        await (await Client.PostAsync("/v1/interfaces/nosuch0/frames", Octets(new byte[60]))).Problem(HttpStatusCode.NotFound, "ENXIO");
    }

    // ---- the batched framing --------------------------------------------------------------------

    [Fact]
    public async Task The_batched_framing_is_negotiated_and_carries_several_frames_a_message()
    {
        var (a, b, _, ta, tb) = await TwoBridged(BatchFraming.Protocol);
        Assert.Equal(BatchFraming.Protocol, ta.Socket.SubProtocol);
        Assert.Null(tb.Socket.SubProtocol);

        var frames = Enumerable.Range(0, 3).Select(i => Ether.Frame(Ether.Broadcast, A, length: 60 + i, mark: i)).ToArray();
        await ta.SendBatchAsync(frames);
        foreach (var f in frames)
            Assert.Equal(f, await tb.ReceiveAsync());

        // b's plain frames come to a as records; a half record at a message's end is an input error.
        var replies = Enumerable.Range(0, 50).Select(i => Ether.Frame(A, B, length: 100, mark: i)).ToArray();
        foreach (var f in replies)
            await tb.SendAsync(f);
        foreach (var f in replies)
            Assert.Equal(f, await ta.ReceiveAsync());
        await ta.SendRawAsync([0x00, 0x40, 0x01, 0x02]);
        await Eventually(async () => Stat(await Stats(a), "ierrors") == 1, "the cut record counted");
        Assert.Equal(WebSocketState.Open, ta.Socket.State);
    }

    // ---- the relay's client ---------------------------------------------------------------------

    [Fact]
    public async Task The_relays_client_speaks_both_framings_and_reads_a_refusal()
    {
        var cloner = await Client.AttachCloner();
        var (a, b, c) = (await NewTap(cloner), await NewTap(cloner), await NewTap(cloner));
        await NewBridge(a, b, c);
        var uri = (string tap) => new Uri($"ws://{Server.Authority}/v1/interfaces/{tap}/tap");
        using var batched = await Task.Run(() => IfApi.Relay.WsClient.Connect(uri(a), [BatchFraming.Protocol], null));
        using var plain = await Task.Run(() => IfApi.Relay.WsClient.Connect(uri(b), [], null));
        var tc = await Open(c);
        Assert.Equal(BatchFraming.Protocol, batched.SubProtocol);
        Assert.Null(plain.SubProtocol);

        static void Send(IfApi.Relay.WsClient client, bool batchedFraming, params byte[][] frames)
        {
            var batch = new IfApi.Relay.WsClient.Batch(client, batchedFraming, 64 * 1024);
            foreach (var f in frames)
            {
                f.CopyTo(batch.Reserve(f.Length));
                batch.Commit(f.Length);
            }
            batch.Send(); // all of them in one write
        }
        var fromA = Enumerable.Range(0, 3).Select(i => Ether.Frame(Ether.Broadcast, A, length: 200 * (i + 1), mark: i)).ToArray();
        Send(batched, true, fromA);
        foreach (var f in fromA)
            Assert.Equal(f, await tc.ReceiveAsync());
        var toB = await Task.Run(() => plain.Receive()).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(fromA[0], toB.Bytes.ToArray()); // one message per frame in the plain framing

        var fromB = new[] { Ether.Frame(Ether.Broadcast, B, length: 64, mark: 7), Ether.Frame(Ether.Broadcast, B, length: 1514, mark: 8) };
        Send(plain, false, fromB);
        Assert.Equal(fromB[0], await tc.ReceiveAsync());
        Assert.Equal(fromB[1], await tc.ReceiveAsync());

        var refused = Assert.Throws<IOException>(() => IfApi.Relay.WsClient.Connect(uri(c), [], null));
        Assert.Contains("409", refused.Message);
        Assert.Contains("EBUSY", refused.Message);
    }

    [Fact]
    public async Task Counters_are_live_in_the_interface()
    {
        var (a, b, bridge, ta, tb) = await TwoBridged();
        for (var i = 0; i < 10; i++)
            await ta.SendAsync(Ether.Frame(Ether.Broadcast, A, length: 100, mark: i));
        Assert.Equal(10, (await tb.ReceiveAllAsync()).Count);
        var sa = await Stats(a);
        Assert.Equal((10, 1000), (Stat(sa, "ipackets"), Stat(sa, "ibytes")));
        var sb = await Stats(b);
        Assert.Equal((10, 1000), (Stat(sb, "opackets"), Stat(sb, "obytes")));
        Assert.Equal(10, Stat(await Stats(bridge), "ipackets"));
        var cloner = (await Client.GetOk($"/v1/interfaces/{a}")).Str("cloner");
        var listed = await Client.GetOk($"/v1/interfaces?cloner={cloner}");
        Assert.Equal(10, listed.GetProperty("items").EnumerateArray().Single(i => i.Str("name") == a).GetProperty("stats").GetProperty("ipackets").GetInt64());
    }
}
