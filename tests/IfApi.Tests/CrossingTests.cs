using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;

namespace IfApi.Tests;

/// <summary>
/// Frames across replicas (SPEC §7): service processes on one PostgreSQL database and a real
/// nats-server, each test on subjects of its own. Every rule of §4 whichever replica a device, a
/// bridge call or a transmit lands on. They run alone: three service processes pacing thousands of
/// frames with no drop allowed must not be starved by unrelated tests into the drops they test for.
/// </summary>
[Collection(nameof(Alone))]
public sealed class CrossingTests(PostgresStore store) : IClassFixture<PostgresStore>
{
    private const string Secret = "crossing-test-secret-0123";
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(700);

    private static (string, string)[] Settings(string url, string prefix) =>
        [("Auth:Keys:all:Secret", Secret), ("Auth:Keys:all:Scopes", "read write admin tap"), ("Frames:Nats:Url", url), ("Frames:Nats:Prefix", prefix)];

    private async Task<ServiceProcess[]> ReplicasAsync(int count, string? url = null)
    {
        url ??= await NatsServer.GetAsync();
        var prefix = NatsServer.NewPrefix();
        return await Task.WhenAll(Enumerable.Range(0, count).Select(_ => ServiceProcess.StartAsync(store, Settings(url, prefix))));
    }

    private static async ValueTask StopAsync(ServiceProcess[] replicas)
    {
        foreach (var r in replicas)
            await r.DisposeAsync();
    }

    private static Task<TapClient> OpenAsync(ServiceProcess replica, string name, string? protocol = null) =>
        TapClient.ConnectAsync(replica.BaseAddress, $"/v1/interfaces/{name}/tap?access_token={Secret}", protocol);

    private static async Task<string> CreateAsync(HttpClient http, string cloner, bool up = true)
    {
        var name = (await http.CreateOk(cloner)).Str("name");
        if (up)
            Assert.Equal(HttpStatusCode.OK, (await http.Patch(name, """{"up":true}""")).StatusCode);
        return name;
    }

    private static async Task AddMemberAsync(HttpClient http, string bridge, string member) =>
        Assert.True((await http.PutAsync($"/v1/interfaces/{bridge}/members/{member}", null)).IsSuccessStatusCode);

    /// <summary>An up bridge with <paramref name="members"/> up taps in it.</summary>
    private static async Task<(string Bridge, string[] Taps)> SegmentAsync(HttpClient http, int members)
    {
        var bridge = await CreateAsync(http, "bridge");
        var taps = new string[members];
        for (var i = 0; i < members; i++)
        {
            taps[i] = await CreateAsync(http, "tap");
            await AddMemberAsync(http, bridge, taps[i]);
        }
        return (bridge, taps);
    }

    /// <summary>The marks of the frames that arrive until none comes for a while.</summary>
    private static async Task<List<int>> MarksAsync(TapClient device, TimeSpan? quiet = null) =>
        (await device.ReceiveAllAsync(quiet ?? Quiet)).Select(Ether.Mark).ToList();

    private static async Task<double> MetricAsync(ServiceProcess replica, string metric, params (string, string)[] labels)
    {
        using var http = replica.Client(Secret);
        return MetricsTests.Value(await http.GetStringAsync("/metrics"), metric, labels);
    }

    [Fact]
    public async Task A_bridge_across_three_replicas_floods_learns_and_sends_known_unicast_to_one_replica_only()
    {
        var replicas = await ReplicasAsync(3);
        try
        {
            var (a, b, c) = (replicas[0], replicas[1], replicas[2]);
            using var http = a.Client(Secret);
            var (bridge, taps) = await SegmentAsync(http, 3);
            await using var t0 = await OpenAsync(a, taps[0]);
            await using var t1 = await OpenAsync(b, taps[1]);
            await using var t2 = await OpenAsync(c, taps[2]);
            var (s0, s1) = (Ether.Station(10), Ether.Station(11));

            // A broadcast from A reaches B and C once each, and never comes back to its sender.
            await t0.SendAsync(Ether.Frame(Ether.Broadcast, s0, mark: 1));
            Assert.Equal([1], await MarksAsync(t1));
            Assert.Equal([1], await MarksAsync(t2));
            Assert.Empty(await MarksAsync(t0));

            // B answers s0, which every side of the bridge learned behind A: only A gets it, C hears nothing.
            var cIn = await MetricAsync(c, "ifapi_crossing_frames_total", ("direction", "in"));
            await t1.SendAsync(Ether.Frame(s0, s1, mark: 2));
            Assert.Equal([2], await MarksAsync(t0));
            Assert.Empty(await MarksAsync(t2));
            Assert.Equal(cIn, await MetricAsync(c, "ifapi_crossing_frames_total", ("direction", "in")));

            // A learned s1 behind B from that answer: its unicast goes to B alone.
            await t0.SendAsync(Ether.Frame(s1, s0, mark: 3));
            Assert.Equal([3], await MarksAsync(t1));
            Assert.Empty(await MarksAsync(t2));
            Assert.Equal(cIn, await MetricAsync(c, "ifapi_crossing_frames_total", ("direction", "in")));
            Assert.Empty(await MarksAsync(t0));
        }
        finally
        {
            await StopAsync(replicas);
        }
    }

    [Fact]
    public async Task A_frame_posted_on_one_replica_reaches_the_device_open_on_another()
    {
        var replicas = await ReplicasAsync(2);
        try
        {
            var (a, b) = (replicas[0], replicas[1]);
            using var viaA = a.Client(Secret);
            var tap = await CreateAsync(viaA, "tap");
            var bridge = await CreateAsync(viaA, "bridge");
            var member = await CreateAsync(viaA, "tap");
            await AddMemberAsync(viaA, bridge, member);
            await using var device = await OpenAsync(b, tap);
            await using var memberDevice = await OpenAsync(b, member);

            // Out of a tap: to its device, open on B.
            var posted = await viaA.PostAsync($"/v1/interfaces/{tap}/frames", new ByteArrayContent(Ether.Frame(Ether.Broadcast, Ether.Station(1), mark: 7)));
            Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
            Assert.Equal([7], await MarksAsync(device));

            // Out of a bridge: to its members, wherever they are open.
            posted = await viaA.PostAsync($"/v1/interfaces/{bridge}/frames", new ByteArrayContent(Ether.Frame(Ether.Broadcast, Ether.Station(1), mark: 8)));
            Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
            Assert.Equal([8], await MarksAsync(memberDevice));
            Assert.Empty(await MarksAsync(device));
        }
        finally
        {
            await StopAsync(replicas);
        }
    }

    [Fact]
    public async Task An_epair_whose_ends_are_served_by_different_replicas_is_a_cable()
    {
        var replicas = await ReplicasAsync(2);
        try
        {
            var (a, b) = (replicas[0], replicas[1]);
            using var http = a.Client(Secret);
            var (left, right) = (await CreateAsync(http, "bridge"), await CreateAsync(http, "bridge"));
            var epair = (await http.CreateOk("epair")).Str("name"); // epairNa; its peer is epairNb
            var peer = epair[..^1] + "b";
            Assert.Equal(HttpStatusCode.OK, (await http.Patch(epair, """{"up":true}""")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.Patch(peer, """{"up":true}""")).StatusCode);
            var (t0, t1) = (await CreateAsync(http, "tap"), await CreateAsync(http, "tap"));
            await AddMemberAsync(http, left, t0);
            await AddMemberAsync(http, left, epair);
            await AddMemberAsync(http, right, peer);
            await AddMemberAsync(http, right, t1);
            await using var d0 = await OpenAsync(a, t0);
            await using var d1 = await OpenAsync(b, t1);
            var (s0, s1) = (Ether.Station(20), Ether.Station(21));

            await d0.SendAsync(Ether.Frame(Ether.Broadcast, s0, mark: 1));
            Assert.Equal([1], await MarksAsync(d1));
            await d1.SendAsync(Ether.Frame(Ether.Broadcast, s1, mark: 2));
            Assert.Equal([2], await MarksAsync(d0));
            await d1.SendAsync(Ether.Frame(s0, s1, mark: 3));
            Assert.Equal([3], await MarksAsync(d0));
            await d0.SendAsync(Ether.Frame(s1, s0, mark: 4));
            Assert.Equal([4], await MarksAsync(d1));
            Assert.Empty(await MarksAsync(d0));
        }
        finally
        {
            await StopAsync(replicas);
        }
    }

    [Fact]
    public async Task Membership_up_down_and_destroy_made_on_one_replica_take_effect_for_frames_on_another()
    {
        var replicas = await ReplicasAsync(2);
        try
        {
            var (a, b) = (replicas[0], replicas[1]);
            using var viaA = a.Client(Secret);
            var (bridge, taps) = await SegmentAsync(viaA, 2);
            var (t0, t1) = (taps[0], taps[1]);
            await using var d0 = await OpenAsync(a, t0);
            await using var d1 = await OpenAsync(b, t1);
            var mark = 0;

            async Task<bool> CrossesAsync()
            {
                var sent = ++mark;
                await d0.SendAsync(Ether.Frame(Ether.Broadcast, Ether.Station(30), mark: sent));
                return (await MarksAsync(d1, TimeSpan.FromMilliseconds(300))).Contains(sent);
            }

            async Task UntilAsync(bool crosses, string what)
            {
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
                while (await CrossesAsync() != crosses)
                    Assert.True(DateTime.UtcNow < deadline, $"frames still {(crosses ? "do not cross" : "cross")} after {what}");
                // and it stays so
                for (var i = 0; i < 3; i++)
                    Assert.Equal(crosses, await CrossesAsync());
            }

            Assert.True(await CrossesAsync());
            Assert.Equal(HttpStatusCode.NoContent, (await viaA.DeleteAsync($"/v1/interfaces/{bridge}/members/{t1}")).StatusCode);
            await UntilAsync(false, "the member left");
            await AddMemberAsync(viaA, bridge, t1);
            await UntilAsync(true, "the member joined again");
            Assert.Equal(HttpStatusCode.OK, (await viaA.Patch(bridge, """{"up":false}""")).StatusCode);
            await UntilAsync(false, "the bridge went down");
            Assert.Equal(HttpStatusCode.OK, (await viaA.Patch(bridge, """{"up":true}""")).StatusCode);
            await UntilAsync(true, "the bridge came up");
            Assert.Equal(HttpStatusCode.OK, (await viaA.Patch(t1, """{"up":false}""")).StatusCode);
            await UntilAsync(false, "the member went down");
            Assert.Equal(HttpStatusCode.OK, (await viaA.Patch(t1, """{"up":true}""")).StatusCode);
            await UntilAsync(true, "the member came up");

            // Destroyed through A, the device open on B is closed with 1001.
            Assert.Equal(HttpStatusCode.NoContent, (await viaA.DeleteAsync($"/v1/interfaces/{t1}")).StatusCode);
            Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, await d1.ReceiveCloseAsync(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            await StopAsync(replicas);
        }
    }

    [Fact]
    public async Task A_paced_burst_of_thousands_of_full_size_frames_crosses_with_no_loss_and_no_duplicate()
    {
        var replicas = await ReplicasAsync(2);
        try
        {
            var (a, b) = (replicas[0], replicas[1]);
            using var http = a.Client(Secret);
            var (_, taps) = await SegmentAsync(http, 2);
            var (t0, t1) = (taps[0], taps[1]);
            await using var d0 = await OpenAsync(a, t0, Frames.Wire.BatchFraming.Protocol);
            await using var d1 = await OpenAsync(b, t1, Frames.Wire.BatchFraming.Protocol);
            var (s0, s1) = (Ether.Station(40), Ether.Station(41));
            await d1.SendAsync(Ether.Frame(Ether.Broadcast, s1)); // so that s1 is known behind B
            Assert.Single(await d0.ReceiveAllAsync(Quiet));

            const int Count = 5000, Batch = 25;
            var received = Task.Run(async () =>
            {
                var marks = new List<int>();
                while (marks.Count < Count && await d1.ReceiveAsync(TimeSpan.FromSeconds(5)) is { } f)
                    marks.Add(Ether.Mark(f));
                marks.AddRange(await MarksAsync(d1)); // anything more would be a duplicate
                return marks;
            });
            for (var i = 0; i < Count; i += Batch)
            {
                await d0.SendBatchAsync(Enumerable.Range(i, Batch).Select(m => Ether.Frame(s1, s0, length: 1514, mark: m)));
                await Task.Delay(2); // about 10,000 frames a second, far below any queue
            }
            var marks = await received;
            Assert.Equal(Enumerable.Range(0, Count), marks.Order());
            Assert.Equal(0, await MetricAsync(a, "ifapi_crossing_drops_total"));
            Assert.Equal(0, await MetricAsync(b, "ifapi_crossing_drops_total"));
        }
        finally
        {
            await StopAsync(replicas);
        }
    }

    [Fact]
    public async Task A_stalled_reader_on_one_replica_costs_nothing_to_the_others()
    {
        var replicas = await ReplicasAsync(3);
        try
        {
            var (a, b, c) = (replicas[0], replicas[1], replicas[2]);
            using var http = a.Client(Secret);
            var (bridge, taps) = await SegmentAsync(http, 3);
            await using var sender = await OpenAsync(a, taps[0], Frames.Wire.BatchFraming.Protocol);
            await using var reader = await OpenAsync(b, taps[1], Frames.Wire.BatchFraming.Protocol);
            await using var stalled = await OpenAsync(c, taps[2], Frames.Wire.BatchFraming.Protocol); // never read

            const int Count = 4000, Batch = 20;
            var received = Task.Run(async () =>
            {
                var marks = new List<int>();
                while (marks.Count < Count && await reader.ReceiveAsync(TimeSpan.FromSeconds(5)) is { } f)
                    marks.Add(Ether.Mark(f));
                return marks;
            });
            for (var i = 0; i < Count; i += Batch)
            {
                await sender.SendBatchAsync(Enumerable.Range(i, Batch).Select(m => Ether.Frame(Ether.Broadcast, Ether.Station(50), length: 1514, mark: m)));
                await Task.Delay(2);
            }
            Assert.Equal(Enumerable.Range(0, Count), (await received).Order());
            // The stalled reader's queue filled and dropped there, and only there.
            using var viaC = c.Client(Secret);
            Assert.True((await viaC.GetOk($"/v1/interfaces/{taps[2]}")).GetProperty("stats").GetProperty("oqdrops").GetInt64() > 0);
            Assert.Equal(0, await MetricAsync(a, "ifapi_crossing_drops_total"));
            Assert.Equal(0, await MetricAsync(b, "ifapi_crossing_drops_total"));
        }
        finally
        {
            await StopAsync(replicas);
        }
    }

    [Fact]
    public async Task Credentials_in_the_url_let_frames_cross_and_are_never_shown()
    {
        await using var nats = await NatsProcess.StartAsync("--user", "ifapi", "--pass", "nats-pass-9f3b");
        var replicas = await ReplicasAsync(2, $"nats://ifapi:nats-pass-9f3b@127.0.0.1:{nats.Port}");
        try
        {
            var (a, b) = (replicas[0], replicas[1]);
            using var http = a.Client(Secret);
            // Start-up waits for NATS when it answers: both cross frames from their first answer.
            Assert.Contains("go through NATS", (await http.GetOk("/readyz")).Str("frames"), StringComparison.Ordinal);
            Assert.Contains("go through NATS", (await b.Client(Secret).GetOk("/readyz")).Str("frames"), StringComparison.Ordinal);
            var (_, taps) = await SegmentAsync(http, 2);
            await using var d0 = await OpenAsync(a, taps[0]);
            await using var d1 = await OpenAsync(b, taps[1]);
            await d0.SendAsync(Ether.Frame(Ether.Broadcast, Ether.Station(70), mark: 1));
            Assert.Equal([1], await MarksAsync(d1));

            var ready = await (await b.Client(Secret).GetAsync("/readyz")).Content.ReadAsStringAsync();
            Assert.Contains("frames between replicas go through NATS at nats://***@127.0.0.1", ready);
            Assert.DoesNotContain("nats-pass-9f3b", ready);
        }
        finally
        {
            await StopAsync(replicas);
        }
    }

    [Fact]
    public async Task With_nats_killed_local_switching_goes_on_and_crossing_resumes_by_itself_when_it_is_back()
    {
        await using var nats = await NatsProcess.StartAsync();
        var replicas = await ReplicasAsync(2, nats.Url);
        try
        {
            var (a, b) = (replicas[0], replicas[1]);
            using var viaA = a.Client(Secret);
            var (bridge, taps) = await SegmentAsync(viaA, 3);
            var (t0, local, remote) = (taps[0], taps[1], taps[2]);
            await using var d0 = await OpenAsync(a, t0);
            await using var dLocal = await OpenAsync(a, local);
            await using var dRemote = await OpenAsync(b, remote);
            var mark = 0;

            async Task<(bool Local, bool Remote)> SendAsync()
            {
                var sent = ++mark;
                await d0.SendAsync(Ether.Frame(Ether.Broadcast, Ether.Station(60), mark: sent));
                var l = (await MarksAsync(dLocal, TimeSpan.FromMilliseconds(300))).Contains(sent);
                var r = (await MarksAsync(dRemote, TimeSpan.FromMilliseconds(300))).Contains(sent);
                return (l, r);
            }

            Assert.Equal((true, true), await SendAsync());
            await nats.KillAsync();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while ((await SendAsync()).Remote)
                Assert.True(DateTime.UtcNow < deadline, "frames still crossed with NATS gone");
            for (var i = 0; i < 3; i++)
                Assert.Equal((true, false), await SendAsync()); // switching inside A goes on

            // Every call answers as before; ready, and saying why frames do not cross.
            var ready = await viaA.GetOk("/readyz");
            Assert.Equal("ready", ready.Str("status"));
            Assert.Contains("frames between replicas are down", ready.Str("frames"), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.Created, (await viaA.Create("tap")).StatusCode);
            Assert.True(await MetricAsync(a, "ifapi_crossing_drops_total", ("reason", "nats-down")) >= 1);

            await nats.RestartAsync();
            deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
            while (!(await SendAsync()).Remote)
                Assert.True(DateTime.UtcNow < deadline, "frames did not cross again after NATS came back");
            Assert.Equal((true, true), await SendAsync());
            Assert.Contains("go through NATS", (await viaA.GetOk("/readyz")).Str("frames"), StringComparison.Ordinal);
        }
        finally
        {
            await StopAsync(replicas);
        }
    }

    [Fact]
    public async Task A_replica_started_while_NATS_is_away_serves_and_crosses_once_NATS_comes()
    {
        await using var nats = await NatsProcess.StartAsync();
        await nats.KillAsync();
        var replicas = await ReplicasAsync(2, nats.Url);
        try
        {
            var (a, b) = (replicas[0], replicas[1]);
            using var viaA = a.Client(Secret);
            var ready = await viaA.GetOk("/readyz");
            Assert.Equal("ready", ready.Str("status"));
            Assert.Contains("frames between replicas are down", ready.Str("frames"), StringComparison.Ordinal);
            var (_, taps) = await SegmentAsync(viaA, 2);
            await using var d0 = await OpenAsync(a, taps[0]);
            await using var d1 = await OpenAsync(b, taps[1]);

            await nats.RestartAsync();
            var mark = 0;
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
            while (true)
            {
                var sent = ++mark;
                await d0.SendAsync(Ether.Frame(Ether.Broadcast, Ether.Station(80), mark: sent));
                if ((await MarksAsync(d1, TimeSpan.FromMilliseconds(300))).Contains(sent))
                    break;
                Assert.True(DateTime.UtcNow < deadline, "frames did not cross once NATS came");
            }
        }
        finally
        {
            await StopAsync(replicas);
        }
    }

    [Fact]
    public async Task A_bridge_in_a_vnet_crosses_replicas_as_one_in_the_host_does()
    {
        await using var nats = await NatsProcess.StartAsync();
        var replicas = await ReplicasAsync(2, nats.Url);
        try
        {
            var (a, b) = (replicas[0], replicas[1]);
            using var http = a.Client(Secret);
            var lab = "x" + Guid.NewGuid().ToString("N")[..8];
            Assert.Equal(HttpStatusCode.Created, (await http.PostAsync("/v1/vnets", JsonContent.Create(new { name = lab }))).StatusCode);
            async Task<string> CreateUpAsync(string cloner)
            {
                var made = await http.PostAsync($"/v1/vnets/{lab}/interfaces", JsonContent.Create(new { cloner, up = true }));
                Assert.Equal(HttpStatusCode.Created, made.StatusCode);
                return (await made.Json(HttpStatusCode.Created)).Str("name");
            }
            var bridge = await CreateUpAsync("bridge");
            var (t0, t1) = (await CreateUpAsync("tap"), await CreateUpAsync("tap"));
            foreach (var t in new[] { t0, t1 })
                Assert.True((await http.PutAsync($"/v1/vnets/{lab}/interfaces/{bridge}/members/{t}", null)).IsSuccessStatusCode);
            await using var d0 = await TapClient.ConnectAsync(a.BaseAddress, $"/v1/vnets/{lab}/interfaces/{t0}/tap?access_token={Secret}");
            await using var d1 = await TapClient.ConnectAsync(b.BaseAddress, $"/v1/vnets/{lab}/interfaces/{t1}/tap?access_token={Secret}");
            await d0.SendAsync(Ether.Frame(Ether.Broadcast, Ether.Station(90), mark: 1));
            Assert.Equal([1], await MarksAsync(d1));
            await d1.SendAsync(Ether.Frame(Ether.Station(90), Ether.Station(91), mark: 2));
            Assert.Equal([2], await MarksAsync(d0));
        }
        finally
        {
            await StopAsync(replicas);
        }
    }
}
