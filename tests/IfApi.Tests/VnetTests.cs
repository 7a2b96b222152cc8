using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace IfApi.Tests;

public sealed class SqliteVnetTests(SqliteStore store) : VnetTests<SqliteStore>(store);

public sealed class PostgresVnetTests(PostgresStore store) : VnetTests<PostgresStore>(store);

/// <summary>
/// Virtual network stacks (SPEC §6, VIMAGE): each vnet its own names, indexes, groups, cloners, unit
/// pools and events; moving as <c>if_vmove</c>; home vnets; deleting a vnet; the quota; keys bound to one.
/// </summary>
public abstract class VnetTests<TStore> : IClassFixture<TStore>, IAsyncLifetime where TStore : StoreFixture
{
    internal const string RootSecret = "vnet-root-secret-0123456";
    internal const string WriterSecret = "vnet-writer-secret-0123";
    internal static readonly string[] Bound = ["alpha", "beta", "gamma"];

    /// <summary>A host key with every scope, a host key without admin, a key bound to each of three vnets, one bound to a vnet made later.</summary>
    internal static readonly (string, string)[] Keys =
    [
        ("Auth:Keys:root:Secret", RootSecret), ("Auth:Keys:root:Scopes", "read write admin tap"),
        ("Auth:Keys:writer:Secret", WriterSecret), ("Auth:Keys:writer:Scopes", "read write tap"),
        .. Bound.SelectMany(v => new[] { ($"Auth:Keys:{v}:Secret", Secret(v)), ($"Auth:Keys:{v}:Scopes", "read write admin tap"), ($"Auth:Keys:{v}:Vnet", v) }),
        ("Auth:Keys:later:Secret", Secret("later")), ("Auth:Keys:later:Scopes", "read write"), ("Auth:Keys:later:Vnet", "notyet"),
    ];

    internal static string Secret(string vnet) => $"bound-to-{vnet}-secret-0123456789";

    protected VnetTests(TStore store)
    {
        Store = store;
        Factory = store.NewFactory(Keys);
        Factory.UseKestrel(0);
        Factory.StartServer();
        Root = Keyed(RootSecret);
    }

    protected TStore Store { get; }
    protected IfApiFactory Factory { get; }
    protected HttpClient Root { get; }

    public async Task InitializeAsync()
    {
        foreach (var v in Bound)
        {
            var r = await Root.PostAsJsonAsync("/v1/vnets", new { name = v });
            Assert.True(r.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict, await r.Content.ReadAsStringAsync());
        }
    }

    public async Task DisposeAsync()
    {
        Root.Dispose();
        await Factory.DisposeAsync();
    }

    protected HttpClient Keyed(string secret)
    {
        var c = Factory.CreateClient();
        c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        return c;
    }

    /// <summary>A vnet of the test's own.</summary>
    protected async Task<string> NewVnetAsync(int? maxInterfaces = null)
    {
        var name = "v" + Guid.NewGuid().ToString("N")[..10];
        var created = await (await Root.PostAsJsonAsync("/v1/vnets", new { name, maxInterfaces })).Json(HttpStatusCode.Created);
        Assert.Equal(name, created.Str("name"));
        return name;
    }

    protected static string In(string vnet, string path) => $"/v1/vnets/{vnet}{path}";

    protected async Task<JsonElement> CreateIn(string vnet, string name) =>
        await (await Root.PostAsJsonAsync(In(vnet, "/interfaces"), new { name })).Json(HttpStatusCode.Created);

    protected Task<HttpResponseMessage> Move(string vnet, string reference, string target, HttpClient? as_ = null) =>
        (as_ ?? Root).SendAsync(new HttpRequestMessage(HttpMethod.Patch, In(vnet, $"/interfaces/{reference}"))
        {
            Content = JsonContent.Create(new { vnet = target }),
        });

    protected async Task<string[]> NamesIn(string vnet) => (await Root.GetOk(In(vnet, "/interfaces?limit=1000"))).Names();

    // ---- vnets as objects ----------------------------------------------------------------------

    [Fact]
    public async Task Host_always_exists_and_a_new_vnet_gets_its_own_built_in_cloners_lo0_indexes_and_groups()
    {
        var list = await Root.GetOk("/v1/vnets");
        Assert.Contains("host", list.GetProperty("items").EnumerateArray().Select(v => v.Str("name")));

        var v = "v" + Guid.NewGuid().ToString("N")[..10];
        var created = await Root.PostAsJsonAsync("/v1/vnets", new { name = v, maxInterfaces = 50 });
        var body = await created.Json(HttpStatusCode.Created);
        Assert.Equal($"/v1/vnets/{v}", created.Headers.Location!.OriginalString);
        Assert.Equal((1, 50), (body.Int("interfaces"), body.Int("maxInterfaces")));

        var cloners = await Root.GetOk(In(v, "/cloners"));
        Assert.Equal(["vlan", "epair", "bridge", "tap", "lo"], cloners.GetProperty("cloners").EnumerateArray().Select(c => c.Str("name")));
        var lo0 = await Root.GetOk(In(v, "/interfaces/lo0"));
        Assert.Equal(1, lo0.Int("index"));
        Assert.Equal(["all", "lo"], lo0.Strings("groups"));
        Assert.NotEqual((await Root.GetOk("/v1/interfaces/lo0")).Str("id"), lo0.Str("id"));
        Assert.Equal(["lo0"], (await Root.GetOk(In(v, "/groups/all"))).Strings("members"));

        await (await Root.PostAsJsonAsync("/v1/vnets", new { name = v })).Problem(HttpStatusCode.Conflict, "EEXIST");
        await (await Root.PostAsJsonAsync("/v1/vnets", new { name = "host" })).Problem(HttpStatusCode.Conflict, "EEXIST");
        await (await Root.GetAsync("/v1/vnets/nosuchvnet")).Problem(HttpStatusCode.NotFound, "ENXIO");
        await (await Root.GetAsync("/v1/vnets/nosuchvnet/interfaces")).Problem(HttpStatusCode.NotFound, "ENXIO");
        await (await Root.DeleteAsync("/v1/vnets/host")).Problem(HttpStatusCode.Conflict, "EBUSY");
        await (await Root.DeleteAsync("/v1/vnets/nosuchvnet")).Problem(HttpStatusCode.NotFound, "ENXIO");
    }

    [Theory]
    [InlineData("""{"name":""}""", "EINVAL")]
    [InlineData("""{}""", "EINVAL")]
    [InlineData("""{"name":"Lab"}""", "EINVAL")]
    [InlineData("""{"name":"1lab"}""", "EINVAL")]
    [InlineData("""{"name":"lab.1"}""", "EINVAL")]
    [InlineData("""{"name":"lab/1"}""", "EINVAL")]
    [InlineData("""{"name":"abcdefghijklmnop"}""", "ENAMETOOLONG")]
    [InlineData("""{"name":"lab","maxInterfaces":0}""", "EINVAL")]
    [InlineData("""{"name":"lab","maxInterfaces":-1}""", "EINVAL")]
    [InlineData("""{"name":"lab","maxInterfaces":1.5}""", "EINVAL")]
    [InlineData("""{"name":"lab","nosuch":1}""", "EINVAL")]
    public async Task A_bad_vnet_is_refused_and_nothing_is_made(string body, string errno)
    {
        var before = await Root.GetOk("/v1/vnets");
        await (await Root.PostJson("/v1/vnets", body)).Problem(HttpStatusCode.BadRequest, errno);
        Assert.Equal(before.GetRawText().Length, (await Root.GetOk("/v1/vnets")).GetRawText().Length);
    }

    [Fact]
    public async Task The_same_names_live_in_two_vnets_at_once_with_indexes_groups_and_cloners_of_their_own()
    {
        var (a, b) = (await NewVnetAsync(), await NewVnetAsync());
        var a0 = await CreateIn(a, "tap");
        var b0 = await CreateIn(b, "tap");
        Assert.Equal(("tap0", "tap0", 2, 2), (a0.Str("name"), b0.Str("name"), a0.Int("index"), b0.Int("index")));
        Assert.NotEqual(a0.Str("id"), b0.Str("id"));

        Assert.Equal(HttpStatusCode.Created, (await Root.PutAsync(In(a, "/interfaces/tap0/groups/lan"), null)).StatusCode);
        Assert.Equal(["tap0"], (await Root.GetOk(In(a, "/groups/lan"))).Strings("members"));
        await (await Root.GetAsync(In(b, "/groups/lan"))).Problem(HttpStatusCode.NotFound, "ENOENT");
        // An id names an interface in its own vnet only.
        await (await Root.GetAsync(In(b, $"/interfaces/{a0.Str("id")}"))).Problem(HttpStatusCode.NotFound, "ENXIO");

        var attached = await Root.PostAsJsonAsync(In(a, "/cloners"), new { name = "wan", kind = "tap" });
        Assert.Equal($"/v1/vnets/{a}/cloners/wan", attached.Headers.Location!.OriginalString);
        await attached.Json(HttpStatusCode.Created);
        Assert.Equal("wan0", (await CreateIn(a, "wan")).Str("name"));
        await (await Root.PostAsJsonAsync(In(b, "/interfaces"), new { name = "wan" })).Problem(HttpStatusCode.BadRequest, "EINVAL");
        Assert.Equal(["lo0", "tap0"], await NamesIn(b));
        await StoreInvariants.AssertConsistentAsync(Store);
    }

    // ---- moving --------------------------------------------------------------------------------

    [Fact]
    public async Task Moving_departs_in_the_source_and_arrives_in_the_target_with_every_event_in_order_in_both_streams()
    {
        var (a, b) = (await NewVnetAsync(), await NewVnetAsync());
        var tap = await CreateIn(a, "tap"); // tap0, index 2
        var id = tap.Str("id");
        var bridge = (await CreateIn(a, "bridge")).Str("name");
        Assert.Equal(HttpStatusCode.OK, (await Root.SendAsync(new HttpRequestMessage(HttpMethod.Patch, In(a, "/interfaces/tap0"))
        {
            Content = new StringContent("""{"up":true,"mtu":9000,"description":"moving"}""", System.Text.Encoding.UTF8, "application/json"),
        })).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await Root.PutAsync(In(a, "/interfaces/tap0/groups/lan"), null)).StatusCode);
        Assert.True((await Root.PutAsync(In(a, $"/interfaces/{bridge}/members/tap0"), null)).IsSuccessStatusCode);
        await CreateIn(b, "tap"); // b's tap0: index 2 taken there
        await (await Move(a, "tap0", b)).Problem(HttpStatusCode.Conflict, "EEXIST"); // the name is taken in b
        Assert.Equal(HttpStatusCode.NoContent, (await Root.DeleteAsync(In(b, "/interfaces/tap0"))).StatusCode);
        await CreateIn(b, "epair"); // indexes 2 and 3 in b

        await using var inA = await OpenStreamAsync(a);
        await using var inB = await OpenStreamAsync(b);
        var moved = await (await Move(a, "tap0", b)).Json();
        Assert.Equal((id, "tap0", "tap", 0, 9000, "moving", tap.Str("lladdr")),
            (moved.Str("id"), moved.Str("name"), moved.Str("cloner"), moved.Int("unit"), moved.Int("mtu"), moved.Str("description"), moved.Str("lladdr")));
        Assert.Equal(4, moved.Int("index")); // the lowest free in b
        Assert.False(moved.GetProperty("up").GetBoolean()); // if_down on the way out
        Assert.Equal(["all", "tap"], moved.Strings("groups"));

        // In a: down, departure, the group it ended and left, the bridge's members; in b: the arrival.
        var seen = new List<string>();
        while (seen.Count < 5)
        {
            var e = await inA.NextAsync();
            Assert.Equal(a, e.Body.Str("vnet"));
            seen.Add($"{e.Type} {e.Body.Str("subject")}");
            if (e.Type == "interface-change")
                Assert.Empty(e.Data.GetProperty("changes").GetProperty("members").EnumerateArray());
            else if (e.Type != "group-detach")
                Assert.Equal(id, e.Data.Str("id"));
        }
        Assert.Equal(["link-down tap0", "interface-departure tap0", "group-detach lan", "group-change tap0", $"interface-change {bridge}"], seen);
        var arrival = await inB.NextAsync();
        Assert.Equal(("interface-arrival", id, b, 4), (arrival.Type, arrival.Data.Str("id"), arrival.Body.Str("vnet"), arrival.Data.Int("index")));

        Assert.DoesNotContain("tap0", await NamesIn(a));
        Assert.Empty((await Root.GetOk(In(a, $"/interfaces/{bridge}/members"))).Strings("members"));
        await (await Root.GetAsync(In(a, "/groups/lan"))).Problem(HttpStatusCode.NotFound, "ENOENT");
        // Index 2 is free again in a; a create there takes it.
        Assert.Equal(2, (await CreateIn(a, "tap")).Int("index"));
        await StoreInvariants.AssertConsistentAsync(Store);
    }

    [Fact]
    public async Task A_move_to_its_own_vnet_an_unknown_one_or_with_other_members_is_refused()
    {
        var a = await NewVnetAsync();
        await CreateIn(a, "tap");
        await (await Move(a, "tap0", a)).Problem(HttpStatusCode.Conflict, "EEXIST");
        await (await Move(a, "tap0", "nosuchvnet")).Problem(HttpStatusCode.NotFound, "ENXIO");
        await (await Move(a, "tap0", "No Such")).Problem(HttpStatusCode.NotFound, "ENXIO");
        await (await Move(a, "tap9", "host")).Problem(HttpStatusCode.NotFound, "ENXIO");
        var both = new HttpRequestMessage(HttpMethod.Patch, In(a, "/interfaces/tap0")) { Content = JsonContent.Create(new { vnet = "host", mtu = 1400 }) };
        await (await Root.SendAsync(both)).Problem(HttpStatusCode.BadRequest, "EINVAL");
        var notString = new HttpRequestMessage(HttpMethod.Patch, In(a, "/interfaces/tap0")) { Content = new StringContent("""{"vnet":7}""", System.Text.Encoding.UTF8, "application/json") };
        await (await Root.SendAsync(notString)).Problem(HttpStatusCode.BadRequest, "EINVAL");
        // A host key without admin may not move.
        using var writer = Keyed(WriterSecret);
        await (await Move(a, "tap0", "host", writer)).Problem(HttpStatusCode.Forbidden, "EPERM");
        Assert.Contains("tap0", await NamesIn(a));
    }

    [Fact]
    public async Task A_moved_interface_destroyed_anywhere_frees_its_unit_in_its_home_vnet_and_the_reclaim_brings_it_back()
    {
        var (a, b) = (await NewVnetAsync(), await NewVnetAsync());
        await CreateIn(a, "tap"); // tap0
        await (await Move(a, "tap0", b)).Json();
        // Its unit is still a's: a's next tap is tap1.
        Assert.Equal("tap1", (await CreateIn(a, "tap")).Str("name"));
        // b's own cloner has its own units: b's first tap is named tap0 too, which b has: tap1.
        Assert.Equal("tap1", (await CreateIn(b, "tap")).Str("name"));
        // Reclaimed (SIOCSIFRVNET is the same call made on the child's path) and moved again.
        await (await Move(b, "tap0", a)).Json();
        await (await Move(a, "tap0", b)).Json();
        Assert.Equal(HttpStatusCode.NoContent, (await Root.DeleteAsync(In(b, "/interfaces/tap0"))).StatusCode);
        Assert.Equal("tap0", (await CreateIn(a, "tap")).Str("name")); // unit 0 came back to a
        await StoreInvariants.AssertConsistentAsync(Store);
    }

    [Fact]
    public async Task Epair_ends_in_two_vnets_go_together_and_a_bridge_takes_no_member_of_another_vnet()
    {
        var (a, b) = (await NewVnetAsync(), await NewVnetAsync());
        var end = await CreateIn(a, "epair");
        Assert.Equal("epair0b", end.Str("peer"));
        await (await Move(a, "epair0b", b)).Json();
        var there = await Root.GetOk(In(b, "/interfaces/epair0b"));
        Assert.False(there.TryGetProperty("peer", out var peer) && peer.ValueKind == JsonValueKind.String); // a's name is not b's to know
        await CreateIn(b, "bridge");
        await CreateIn(a, "tap");
        await (await Root.PutAsync(In(b, "/interfaces/bridge0/members/tap0"), null)).Problem(HttpStatusCode.NotFound, "ENOENT");
        await (await Root.PutAsync(In(b, $"/interfaces/bridge0/members/{end.Str("id")}"), null)).Problem(HttpStatusCode.NotFound, "ENOENT");
        Assert.Equal(HttpStatusCode.NoContent, (await Root.DeleteAsync(In(a, "/interfaces/epair0a"))).StatusCode);
        Assert.DoesNotContain("epair0b", await NamesIn(b));
        Assert.Equal("epair0a", (await CreateIn(a, "epair")).Str("name"));
        await StoreInvariants.AssertConsistentAsync(Store);
    }

    // ---- frames --------------------------------------------------------------------------------

    private async Task UpIn(string vnet, string name)
    {
        var r = await Root.SendAsync(new HttpRequestMessage(HttpMethod.Patch, In(vnet, $"/interfaces/{name}")) { Content = JsonContent.Create(new { up = true }) });
        await r.Json();
    }

    private async Task MemberIn(string vnet, string bridge, string member) =>
        Assert.True((await Root.PutAsync(In(vnet, $"/interfaces/{bridge}/members/{member}"), null)).IsSuccessStatusCode);

    private Task<TapClient> OpenIn(string vnet, string name) =>
        TapClient.ConnectAsync(Root.BaseAddress!, In(vnet, $"/interfaces/{name}/tap?access_token={RootSecret}"));

    /// <summary>An up bridge in the vnet with an up tap in it; returns their names.</summary>
    private async Task<(string Bridge, string Tap)> SegmentIn(string vnet)
    {
        var bridge = (await CreateIn(vnet, "bridge")).Str("name");
        var tap = (await CreateIn(vnet, "tap")).Str("name");
        await UpIn(vnet, bridge);
        await UpIn(vnet, tap);
        await MemberIn(vnet, bridge, tap);
        return (bridge, tap);
    }

    private static async Task<List<int>> MarksAsync(TapClient device) =>
        (await device.ReceiveAllAsync(TimeSpan.FromMilliseconds(500))).Select(Ether.Mark).ToList();

    [Fact]
    public async Task An_epair_cabled_between_the_host_and_a_vnet_passes_frames_between_them_and_nothing_else_does()
    {
        var (a, b) = ("host", await NewVnetAsync());
        var (bridgeA, tapA) = await SegmentIn(a);
        var (bridgeB, tapB) = await SegmentIn(b);
        var end = (await CreateIn(a, "epair")).Str("name");
        var other = end[..^1] + "b";
        await (await Move(a, other, b)).Json();
        await UpIn(a, end);
        await UpIn(b, other);
        await MemberIn(a, bridgeA, end);
        await MemberIn(b, bridgeB, other);

        await using var inA = await OpenIn(a, tapA);
        await using var inB = await OpenIn(b, tapB);
        await inA.SendAsync(Ether.Frame(Ether.Broadcast, Ether.Station(1), mark: 1));
        Assert.Equal([1], await MarksAsync(inB));
        await inB.SendAsync(Ether.Frame(Ether.Station(1), Ether.Station(2), mark: 2)); // learned behind the cable
        Assert.Equal([2], await MarksAsync(inA));
        // Counted in the vnet each interface is in: a's tap received one frame from its device and sent one out to it.
        var metrics = await Root.GetStringAsync("/metrics");
        foreach (var v in new[] { a, b })
        {
            Assert.True(MetricsTests.Value(metrics, "ifapi_tap_frames_total", ("direction", "in"), ("vnet", v)) >= 1, metrics);
            Assert.True(MetricsTests.Value(metrics, "ifapi_tap_frames_total", ("direction", "out"), ("vnet", v)) >= 1, metrics);
        }

        // Cut the cable (the end leaves its bridge): the two vnets no longer hear each other.
        Assert.Equal(HttpStatusCode.NoContent, (await Root.DeleteAsync(In(b, $"/interfaces/{bridgeB}/members/{other}"))).StatusCode);
        await inA.SendAsync(Ether.Frame(Ether.Broadcast, Ether.Station(1), mark: 3));
        Assert.Empty(await MarksAsync(inB));
    }

    [Fact]
    public async Task A_tap_moved_with_its_device_open_keeps_it_open_and_passes_frames_in_its_new_vnet()
    {
        var (a, b) = (await NewVnetAsync(), await NewVnetAsync());
        var (bridgeB, tapB) = await SegmentIn(b);
        var moving = (await CreateIn(a, "tap")).Str("id");
        var renamed = await Root.SendAsync(new HttpRequestMessage(HttpMethod.Patch, In(a, $"/interfaces/{moving}")) { Content = JsonContent.Create(new { name = "mover0", up = true }) });
        await renamed.Json(); // b has a tap0 of its own
        await using var device = await OpenIn(a, moving);
        Assert.Contains("running", (await Root.GetOk(In(a, $"/interfaces/{moving}"))).Strings("flags"));

        var moved = await (await Move(a, moving, b)).Json();
        Assert.Contains("running", moved.Strings("flags")); // its device is still open
        await UpIn(b, moving);
        await MemberIn(b, bridgeB, moving);
        await using var inB = await OpenIn(b, tapB);
        await device.SendAsync(Ether.Frame(Ether.Broadcast, Ether.Station(5), mark: 5));
        Assert.Equal([5], await MarksAsync(inB));
        await inB.SendAsync(Ether.Frame(Ether.Station(5), Ether.Station(6), mark: 6));
        Assert.Equal([6], await MarksAsync(device));
    }

    [Fact]
    public async Task The_cloning_device_makes_its_tap_in_the_vnet_named_and_destroys_it_on_close_wherever_it_went()
    {
        var (a, b) = (await NewVnetAsync(), await NewVnetAsync());
        var device = await TapClient.ConnectAsync(Root.BaseAddress!, In(a, $"/tap?access_token={RootSecret}"));
        var name = JsonDocument.Parse((await device.ReceiveTextAsync())!).RootElement.Str("name");
        Assert.Contains(name, await NamesIn(a));
        await (await Move(a, name, b)).Json();
        await device.CloseAsync();
        await device.DisposeAsync();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await NamesIn(b)).Contains(name))
        {
            Assert.True(DateTime.UtcNow < deadline, $"{name} outlived its cloning device in {b}");
            await Task.Delay(50);
        }
        await StoreInvariants.AssertConsistentAsync(Store);
    }

    // ---- deleting a vnet -----------------------------------------------------------------------

    [Fact]
    public async Task Deleting_a_vnet_returns_what_it_borrowed_and_destroys_what_it_made_wherever_it_is()
    {
        var lab = await NewVnetAsync();
        var loaned = (await Root.CreateOk("tap")).Str("name"); // the host's
        await (await Root.Patch(loaned, $$"""{"vnet":"{{lab}}"}""")).Json();
        await CreateIn(lab, "tap"); // lab's own tap0 (or the next)
        var own = await CreateIn(lab, "epair");
        var ownEnd = own.Str("id");
        var loanedName = "o" + Guid.NewGuid().ToString("N")[..8] + "0"; // a name the host does not have
        await (await Root.SendAsync(new HttpRequestMessage(HttpMethod.Patch, In(lab, $"/interfaces/{ownEnd}")) { Content = JsonContent.Create(new { name = loanedName }) })).Json();
        await (await Move(lab, ownEnd, "host")).Json(); // lab's epair end, loaned to the host

        // A name of the host's taken meanwhile (by a rename: the unit stays the loaned one's): nothing changes.
        var clash = (await Root.CreateOk("tap")).Str("name");
        await (await Move("host", clash, lab)).Json();
        await (await Root.Patch(clash, "{}")).Problem(HttpStatusCode.NotFound, "ENXIO");
        var retaker = (await Root.CreateOk("tap")).Str("name");
        await (await Root.Patch(retaker, $$"""{"name":"{{clash}}"}""")).Json();
        // Logically: a rolled-back transaction may have drawn numbers from PostgreSQL's sequences.
        var before = await StoreDump.SettledAsync(Store, logical: true);
        await (await Root.DeleteAsync($"/v1/vnets/{lab}")).Problem(HttpStatusCode.Conflict, "EEXIST");
        var after = await StoreDump.SettledAsync(Store, logical: true);
        Assert.True(before == after, $"a refused delete changed the store: {StoreDump.Diff(before, after)}");

        Assert.Equal(HttpStatusCode.NoContent, (await Root.DeleteAsync($"/v1/interfaces/{clash}")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await Root.DeleteAsync($"/v1/vnets/{lab}")).StatusCode);
        await (await Root.GetAsync($"/v1/vnets/{lab}")).Problem(HttpStatusCode.NotFound, "ENXIO");
        var host = await NamesIn("host");
        Assert.Contains(loaned, host);
        Assert.Contains(clash, host);
        await (await Root.GetAsync($"/v1/interfaces/{ownEnd}")).Problem(HttpStatusCode.NotFound, "ENXIO"); // destroyed in the host too
        await StoreInvariants.AssertConsistentAsync(Store);
        // The name can be used again, afresh.
        await (await Root.PostAsJsonAsync("/v1/vnets", new { name = lab })).Json(HttpStatusCode.Created);
        Assert.Equal(["lo0"], await NamesIn(lab));
    }

    [Fact]
    public async Task A_write_into_a_vnet_another_replica_just_deleted_is_ENXIO()
    {
        using var replicas = Store.NewHosts();
        var lab = "v" + Guid.NewGuid().ToString("N")[..10];
        await (await replicas.A.PostAsJsonAsync("/v1/vnets", new { name = lab })).Json(HttpStatusCode.Created);
        await (await replicas.B.GetAsync(In(lab, "/interfaces"))).Json(); // B has seen it
        Assert.Equal(HttpStatusCode.NoContent, (await replicas.A.DeleteAsync($"/v1/vnets/{lab}")).StatusCode);
        await (await replicas.B.PostAsJsonAsync(In(lab, "/interfaces"), new { name = "tap" })).Problem(HttpStatusCode.NotFound, "ENXIO");
        await Task.Delay(1100); // once B no longer believes it, it is not found before any write
        await (await replicas.B.GetAsync(In(lab, "/interfaces"))).Problem(HttpStatusCode.NotFound, "ENXIO");
    }

    [Fact]
    public async Task Deleting_a_vnet_with_its_bridges_members_and_borrowed_bridges_leaves_nothing_behind()
    {
        var lab = await NewVnetAsync();
        // Its own: a bridge holding an epair end and a tap, a vlan on the tap.
        var bridge = (await CreateIn(lab, "bridge")).Str("name");
        var tap = (await CreateIn(lab, "tap")).Str("name");
        var end = (await CreateIn(lab, "epair")).Str("name");
        await MemberIn(lab, bridge, end);
        await MemberIn(lab, bridge, tap);
        await (await Root.PostAsJsonAsync(In(lab, "/interfaces"), new { name = "vlan", @params = new { vlan = 7, parent = tap } })).Json(HttpStatusCode.Created);
        // Borrowed from the host: a bridge and a member of it, joined in lab.
        var hostBridge = (await Root.CreateOk("bridge")).Str("id");
        var hostTap = (await Root.CreateOk("tap")).Str("id");
        foreach (var id in new[] { hostBridge, hostTap }) // names lab does not have
            await (await Root.Patch(id, $$"""{"name":"h{{Guid.NewGuid().ToString("N")[..8]}}0"}""")).Json();
        await (await Root.Patch(hostBridge, $$"""{"vnet":"{{lab}}"}""")).Json();
        await (await Root.Patch(hostTap, $$"""{"vnet":"{{lab}}"}""")).Json();
        await MemberIn(lab, hostBridge, hostTap);

        Assert.Equal(HttpStatusCode.NoContent, (await Root.DeleteAsync($"/v1/vnets/{lab}")).StatusCode);
        Assert.Empty((await Root.GetOk($"/v1/interfaces/{hostBridge}")).Strings("members")); // a bridge moved lets its members go
        await Root.GetOk($"/v1/interfaces/{hostTap}");
        await StoreInvariants.AssertConsistentAsync(Store);
    }

    [Fact]
    public async Task Remembered_answers_and_events_are_a_vnets_own_and_go_with_it()
    {
        var (a, b) = (await NewVnetAsync(), await NewVnetAsync());
        async Task<HttpResponseMessage> CreateWithKey(string vnet, string key)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, In(vnet, "/interfaces")) { Content = JsonContent.Create(new { name = "tap" }) };
            request.Headers.Add("Idempotency-Key", key);
            return await Root.SendAsync(request);
        }
        var first = await (await CreateWithKey(a, "same-key")).Json(HttpStatusCode.Created);
        var other = await CreateWithKey(b, "same-key");
        Assert.False(other.Headers.Contains("Idempotent-Replayed"));
        Assert.NotEqual(first.Str("id"), (await other.Json(HttpStatusCode.Created)).Str("id"));
        var replay = await CreateWithKey(a, "same-key");
        Assert.Equal(first.Str("id"), (await replay.Json(HttpStatusCode.Created)).Str("id"));

        // Deleted and made again under the name: none of the old one's answers or events are the new one's.
        Assert.Equal(HttpStatusCode.NoContent, (await Root.DeleteAsync($"/v1/vnets/{a}")).StatusCode);
        await (await Root.PostAsJsonAsync("/v1/vnets", new { name = a })).Json(HttpStatusCode.Created);
        var again = await CreateWithKey(a, "same-key");
        Assert.False(again.Headers.Contains("Idempotent-Replayed"));
        Assert.NotEqual(first.Str("id"), (await again.Json(HttpStatusCode.Created)).Str("id"));
        await using var events = await EventStream.OpenAsync(Root, query: "?after=0", path: In(a, "/events"));
        var arrivals = new List<string>();
        for (var i = 0; i < 2; i++)
            arrivals.Add((await events.NextAsync()).Data.Str("id"));
        Assert.DoesNotContain(first.Str("id"), arrivals);
        Assert.Equal(("lo0", "tap0"), ((await Root.GetOk(In(a, "/interfaces/lo0"))).Str("name"), (await Root.GetOk(In(a, "/interfaces/tap0"))).Str("name")));
    }

    // ---- quota ---------------------------------------------------------------------------------

    [Fact]
    public async Task The_quota_holds_exactly_under_sixteen_parallel_creates_and_moves_in()
    {
        var lab = await NewVnetAsync(maxInterfaces: 6); // lo0 and five more
        var answers = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Root.PostAsJsonAsync(In(lab, "/interfaces"), new { name = "tap" })));
        Assert.Equal(5, answers.Count(r => r.StatusCode == HttpStatusCode.Created));
        foreach (var refused in answers.Where(r => r.StatusCode != HttpStatusCode.Created))
            await refused.Problem(HttpStatusCode.Conflict, "ENOSPC");
        Assert.Equal(6, (await Root.GetOk($"/v1/vnets/{lab}")).Int("interfaces"));
        var outside = "q" + Guid.NewGuid().ToString("N")[..8] + "0"; // a name lab does not have
        await (await Root.Patch((await Root.CreateOk("tap")).Str("name"), $$"""{"name":"{{outside}}"}""")).Json();
        await (await Root.Patch(outside, $$"""{"vnet":"{{lab}}"}""")).Problem(HttpStatusCode.Conflict, "ENOSPC");
        Assert.Contains(outside, await NamesIn("host"));
        await StoreInvariants.AssertConsistentAsync(Store);
    }

    [Fact]
    public async Task Creates_and_destroys_are_counted_per_vnet_in_the_metrics()
    {
        var lab = await NewVnetAsync();
        await CreateIn(lab, "tap");
        await (await Root.PostAsJsonAsync(In(lab, "/interfaces"), new { name = "tap0" })).Problem(HttpStatusCode.Conflict, "EEXIST");
        Assert.Equal(HttpStatusCode.NoContent, (await Root.DeleteAsync(In(lab, "/interfaces/tap0"))).StatusCode);
        var text = await Root.GetStringAsync("/metrics");
        Assert.Equal(1, MetricsTests.Value(text, "ifapi_interface_creates_total", ("vnet", lab), ("cloner", "tap"), ("errno", "none")));
        Assert.Equal(1, MetricsTests.Value(text, "ifapi_interface_creates_total", ("vnet", lab), ("cloner", "tap"), ("errno", "EEXIST")));
        Assert.Equal(1, MetricsTests.Value(text, "ifapi_interface_destroys_total", ("vnet", lab), ("cloner", "tap"), ("errno", "none")));
    }

    // ---- concurrency ---------------------------------------------------------------------------

    [Fact]
    public async Task Parallel_moves_of_many_interfaces_between_two_vnets_through_two_replicas_end_exact()
    {
        using var replicas = Store.NewHosts();
        var (a, b) = (await NewVnetAsync(), await NewVnetAsync());
        var ids = new List<string>();
        for (var i = 0; i < 12; i++)
            ids.Add((await CreateIn(a, "tap")).Str("id"));
        var random = new Random(7);
        var moves = ids.SelectMany(id => Enumerable.Range(0, 3).Select(_ => (id, to: random.Next(2) == 0 ? b : a))).OrderBy(_ => random.Next()).ToList();
        var turn = 0;
        await Parallel.ForEachAsync(moves, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (m, _) =>
        {
            var from = m.to == a ? b : a;
            var r = await Move(from, m.id, m.to, Interlocked.Increment(ref turn) % 2 == 0 ? replicas.A : replicas.B);
            // Where it is not (any more), or moved there already by another: ENXIO or EEXIST; never anything else.
            Assert.True(r.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound or HttpStatusCode.Conflict, await r.Content.ReadAsStringAsync());
        });
        var inA = (await Root.GetOk(In(a, "/interfaces?limit=1000"))).GetProperty("items").EnumerateArray().ToList();
        var inB = (await Root.GetOk(In(b, "/interfaces?limit=1000"))).GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(ids.Order(), inA.Concat(inB).Select(i => i.Str("id")).Where(ids.Contains).Order());
        // An index is kept while the interface stays (holes are where others left); unique in each vnet.
        Assert.Equal(inA.Count, inA.Select(i => i.Int("index")).Distinct().Count());
        Assert.Equal(inB.Count, inB.Select(i => i.Int("index")).Distinct().Count());
        await StoreInvariants.AssertConsistentAsync(Store);
    }

    // ---- keys bound to a vnet ------------------------------------------------------------------

    [Fact]
    public async Task A_bound_key_works_in_its_vnet_by_its_plain_paths_and_sees_no_other()
    {
        using var alpha = Keyed(Secret("alpha"));
        var created = await alpha.PostAsJsonAsync("/v1/interfaces", new { name = "tap" });
        var tap = await created.Json(HttpStatusCode.Created);
        Assert.StartsWith("/v1/interfaces/", created.Headers.Location!.OriginalString);
        Assert.Equal(tap.Str("id"), (await Root.GetOk(In("alpha", $"/interfaces/{tap.Str("id")}"))).Str("id"));
        Assert.Equal(tap.Str("id"), (await alpha.GetOk(In("alpha", $"/interfaces/{tap.Str("id")}"))).Str("id"));

        var hostTap = (await Root.CreateOk("tap")).Str("id");
        await (await alpha.GetAsync($"/v1/interfaces/{hostTap}")).Problem(HttpStatusCode.NotFound, "ENXIO");
        foreach (var other in new[] { "host", "beta", "nosuchvnet" })
        {
            await (await alpha.GetAsync(In(other, "/interfaces"))).Problem(HttpStatusCode.NotFound, "ENXIO");
            await (await alpha.GetAsync($"/v1/vnets/{other}")).Problem(HttpStatusCode.NotFound, "ENXIO");
            await (await alpha.DeleteAsync($"/v1/vnets/{other}")).Problem(HttpStatusCode.NotFound, "ENXIO");
        }
        Assert.Equal(["alpha"], (await alpha.GetOk("/v1/vnets")).GetProperty("items").EnumerateArray().Select(v => v.Str("name")));
        // Its own vnet it may see, not manage; nor may it move (even with admin: a jail lacks PRIV_NET_SETIFVNET).
        Assert.Equal("alpha", (await alpha.GetOk("/v1/vnets/alpha")).Str("name"));
        await (await alpha.DeleteAsync("/v1/vnets/alpha")).Problem(HttpStatusCode.Forbidden, "EPERM");
        await (await alpha.PostAsJsonAsync("/v1/vnets", new { name = "mine" })).Problem(HttpStatusCode.Forbidden, "EPERM");
        await (await alpha.Patch(tap.Str("name"), """{"vnet":"host"}""")).Problem(HttpStatusCode.Forbidden, "EPERM");
        // A transaction of a bound key: its plain paths are its vnet; another vnet's path is not found.
        var tx = await alpha.PostJson("/v1/transactions", """{"operations":[{"method":"POST","path":"/v1/interfaces","body":{"name":"tap"}},{"method":"GET","path":"/v1/vnets/beta/interfaces"}]}""");
        var p = await tx.Problem(HttpStatusCode.NotFound, "ENXIO");
        Assert.Equal(1, p.Int("operation"));
    }

    [Fact]
    public async Task A_key_bound_to_a_vnet_that_does_not_exist_yet_is_answered_ENXIO_until_it_does()
    {
        using var later = Keyed(Secret("later"));
        var exists = (await Root.GetOk("/v1/vnets")).GetProperty("items").EnumerateArray().Any(v => v.Str("name") == "notyet");
        if (!exists)
        {
            await (await later.GetAsync("/v1/interfaces")).Problem(HttpStatusCode.NotFound, "ENXIO");
            await (await Root.PostAsJsonAsync("/v1/vnets", new { name = "notyet" })).Json(HttpStatusCode.Created);
        }
        Assert.Equal(["lo0"], (await later.GetOk("/v1/interfaces")).Names().Take(1));
    }

    [Fact]
    public async Task A_vnet_path_transaction_runs_its_plain_paths_in_that_vnet()
    {
        var lab = await NewVnetAsync();
        var tx = await Root.PostJson(In(lab, "/transactions"),
            """{"operations":[{"method":"POST","path":"/v1/interfaces","body":{"name":"tap"}},{"method":"PUT","path":"/v1/interfaces/tap0/groups/lan"}]}""");
        var results = (await tx.Json()).GetProperty("results").EnumerateArray().ToList();
        Assert.Equal($"/v1/interfaces/{results[0].GetProperty("body").Str("id")}", results[0].Str("location"));
        Assert.Equal(201, results[1].Int("status"));
        Assert.Equal(["tap0"], (await Root.GetOk(In(lab, "/groups/lan"))).Strings("members"));
    }

    protected async Task<EventStream> OpenStreamAsync(string vnet)
    {
        var stream = await EventStream.OpenAsync(Root, path: In(vnet, "/events"));
        return stream;
    }
}
