using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace IfApi.Tests;

public sealed class SqliteInterfaceApiTests(SqliteStore store) : InterfaceApiTests<SqliteStore>(store);

public sealed class PostgresInterfaceApiTests(PostgresStore store) : InterfaceApiTests<PostgresStore>(store);

/// <summary>
/// The cloning API over HTTP, through the real start-up path, on each store. Tests share one store
/// per class, so each works on a cloner of its own (or names no other test uses).
/// </summary>
public abstract class InterfaceApiTests<TStore>(TStore store) : ApiTests<TStore>(store, ("Interfaces:Static", "em0,skb0,em0.0")) where TStore : StoreFixture
{
    // ---- cloners ---------------------------------------------------------------------------------

    [Fact]
    public async Task Built_in_cloners_are_listed_newest_first_with_lo0_present()
    {
        var list = await (await Client.GetAsync("/v1/cloners")).Json();
        var names = list.GetProperty("cloners").EnumerateArray().Select(c => c.Str("name")).ToList();
        Assert.Equal(["vlan", "epair", "bridge", "tap", "lo"], names.Where(n => n is "lo" or "tap" or "bridge" or "epair" or "vlan"));
        Assert.True(list.Int("total") >= 5);
        var lo = await (await Client.GetAsync("/v1/cloners/lo")).Json();
        Assert.Equal(("loop", 1, 32767, true), (lo.Str("kind"), lo.Int("minIfs"), lo.Int("maxUnit"), lo.GetProperty("autoUnit").GetBoolean()));
        var lo0 = await (await Client.GetAsync("/v1/interfaces/lo0")).Json();
        Assert.Equal(1, lo0.Int("index"));
        Assert.Equal(16384, lo0.Int("mtu"));
        Assert.Equal(["loopback", "multicast"], lo0.GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
    }

    [Fact]
    public async Task The_cloner_list_limit_bounds_the_answer_but_not_the_total()
    {
        var all = await (await Client.GetAsync("/v1/cloners")).Json();
        var two = await (await Client.GetAsync("/v1/cloners?limit=2")).Json();
        Assert.Equal(2, two.GetProperty("cloners").GetArrayLength());
        Assert.Equal(all.Int("total"), two.Int("total"));
        var none = await (await Client.GetAsync("/v1/cloners?limit=0")).Json();
        Assert.Equal(0, none.GetProperty("cloners").GetArrayLength());
        await (await Client.GetAsync("/v1/cloners?limit=-1")).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.GetAsync("/v1/cloners?limit=many")).Problem(HttpStatusCode.BadRequest, "EINVAL");
    }

    [Fact]
    public async Task An_attached_cloner_is_listed_first_and_a_duplicate_is_EEXIST()
    {
        var name = await Client.AttachCloner("bridge", maxUnit: 7);
        var list = await (await Client.GetAsync("/v1/cloners?limit=1")).Json();
        Assert.Equal(name, list.GetProperty("cloners")[0].Str("name"));
        var c = await (await Client.GetAsync($"/v1/cloners/{name}")).Json();
        Assert.Equal(("bridge", 7, 0), (c.Str("kind"), c.Int("maxUnit"), c.Int("interfaces")));
        var again = await Client.PostAsJsonAsync("/v1/cloners", new { name, kind = "tap" });
        await again.Problem(HttpStatusCode.Conflict, "EEXIST");
        await (await Client.PostAsJsonAsync("/v1/cloners", new { name = "tap", kind = "tap" })).Problem(HttpStatusCode.Conflict, "EEXIST");
    }

    [Theory]
    [InlineData("""{"name":"abcdefghij","kind":"tap"}""", 400, "ENAMETOOLONG")]
    [InlineData("""{"name":"wan0","kind":"tap"}""", 400, "EINVAL")]
    [InlineData("""{"name":"wan","kind":"ether"}""", 400, "EINVAL")]
    [InlineData("""{"name":"wan","kind":"tap","maxUnit":32768}""", 400, "EINVAL")]
    [InlineData("""{"name":"wan","kind":"tap","maxUnit":1,"minIfs":3}""", 400, "EINVAL")]
    [InlineData("""{"name":"wan"}""", 400, "EINVAL")]
    [InlineData("""{"name":"wan","kind":"tap","colour":"red"}""", 400, "EINVAL")]
    [InlineData("""{"name":"wan","kind":7}""", 400, "EINVAL")]
    public async Task Bad_cloner_definitions_are_problems(string body, int status, string errno) =>
        await (await Client.PostJson("/v1/cloners", body)).Problem((HttpStatusCode)status, errno);

    [Fact]
    public async Task An_unknown_cloner_is_ENOENT()
    {
        await (await Client.GetAsync("/v1/cloners/nosuch")).Problem(HttpStatusCode.NotFound, "ENOENT");
        await (await Client.DeleteAsync("/v1/cloners/nosuch")).Problem(HttpStatusCode.NotFound, "ENOENT");
    }

    [Fact]
    public async Task MinIfs_units_exist_at_attach_cannot_be_destroyed_and_go_with_the_cloner()
    {
        var c = await Client.AttachCloner("tap", minIfs: 2);
        var list = await (await Client.GetAsync($"/v1/interfaces?cloner={c}")).Json();
        Assert.Equal([$"{c}0", $"{c}1"], list.Names());
        var destroy = await Client.DeleteAsync($"/v1/interfaces/{c}1");
        var p = await destroy.Problem(HttpStatusCode.BadRequest, "EINVAL");
        Assert.Equal("SIOCIFDESTROY", p.Str("ioctl"));
        Assert.Equal($"{c}2", (await Client.CreateOk(c)).Str("name"));

        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/cloners/{c}")).StatusCode);
        await (await Client.GetAsync($"/v1/cloners/{c}")).Problem(HttpStatusCode.NotFound, "ENOENT");
        Assert.Empty((await (await Client.GetAsync($"/v1/interfaces?cloner={c}")).Json()).Names());
        await (await Client.GetAsync($"/v1/interfaces/{c}0")).Problem(HttpStatusCode.NotFound, "ENXIO");
        await (await Client.Create(c)).Problem(HttpStatusCode.BadRequest, "EINVAL");
    }

    [Fact]
    public async Task Detaching_lo_destroys_lo0_too()
    {
        // On a store of its own, so lo's absence does not disturb other tests.
        await WithFreshStore(async (http, store) =>
        {
            Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync("/v1/cloners/lo")).StatusCode);
            await (await http.GetAsync("/v1/interfaces/lo0")).Problem(HttpStatusCode.NotFound, "ENXIO");
            // Definitions persist: a restart does not bring the built-in back.
            using var again = store.NewFactory();
            using var http2 = again.CreateClient();
            await (await http2.GetAsync("/v1/cloners/lo")).Problem(HttpStatusCode.NotFound, "ENOENT");
            // ...and the freed index 1 is the next one handed out.
            Assert.Equal(1, (await http2.CreateOk("tap")).Int("index"));
        });
    }

    // ---- create ----------------------------------------------------------------------------------

    [Fact]
    public async Task Wildcard_creates_take_the_lowest_free_unit()
    {
        var c = await Client.AttachCloner();
        Assert.Equal($"{c}0", (await Client.CreateOk(c)).Str("name"));
        Assert.Equal($"{c}1", (await Client.CreateOk(c)).Str("name"));
        Assert.Equal($"{c}2", (await Client.CreateOk(c)).Str("name"));
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{c}1")).StatusCode);
        var again = await Client.CreateOk(c);
        Assert.Equal(($"{c}1", 1), (again.Str("name"), again.Int("unit")));
        Assert.Equal($"{c}3", (await Client.CreateOk(c)).Str("name"));
    }

    [Fact]
    public async Task A_specific_unit_is_taken_once_and_leaves_lower_units_free()
    {
        var c = await Client.AttachCloner();
        Assert.Equal(7, (await Client.CreateOk($"{c}7")).Int("unit"));
        await (await Client.Create($"{c}7")).Problem(HttpStatusCode.Conflict, "EEXIST");
        Assert.Equal($"{c}0", (await Client.CreateOk(c)).Str("name"));
    }

    [Fact]
    public async Task Units_above_maxUnit_and_a_full_cloner_are_ENOSPC()
    {
        var c = await Client.AttachCloner(maxUnit: 1);
        await (await Client.Create($"{c}2")).Problem(HttpStatusCode.Conflict, "ENOSPC");
        await Client.CreateOk($"{c}1");
        await Client.CreateOk(c);
        await (await Client.Create(c)).Problem(HttpStatusCode.Conflict, "ENOSPC");
    }

    [Fact]
    public async Task A_wildcard_skips_a_unit_whose_name_another_interface_holds()
    {
        // skb0 is a static interface (Interfaces:Static): it holds the name of unit 0 of cloner skb.
        var r = await Client.PostAsJsonAsync("/v1/cloners", new { name = "skb", kind = "tap" });
        await r.Json(HttpStatusCode.Created);
        Assert.Equal("skb1", (await Client.CreateOk("skb")).Str("name"));
        await (await Client.Create("skb0")).Problem(HttpStatusCode.Conflict, "EEXIST");
        Assert.Equal("skb2", (await Client.CreateOk("skb")).Str("name"));
    }

    [Theory]
    [InlineData("tap07", 400, "EINVAL")]                 // leading zero
    [InlineData("tap7x", 400, "EINVAL")]                 // junk after the unit: no cloner matches
    [InlineData("tap99999999999", 400, "EINVAL")]        // overflow
    [InlineData("tap2147483648", 400, "EINVAL")]
    [InlineData("tap32768", 409, "ENOSPC")]              // above IF_MAXUNIT
    [InlineData("nosuch0", 400, "EINVAL")]               // no cloner
    [InlineData("", 400, "EINVAL")]
    [InlineData("tap0123456789012", 400, "ENAMETOOLONG")]
    [InlineData("epair0a", 400, "EINVAL")]               // the epair matcher takes epair[N] only
    [InlineData("nosuch0.5", 400, "EINVAL")]             // vlan needs an existing parent
    [InlineData("em0.0", 409, "EEXIST")]                 // taken (a static interface): checked before the tag, as the kernel does
    [InlineData("em0.00", 400, "EINVAL")]                // vlan tag out of range
    [InlineData("em0.4095", 400, "EINVAL")]
    [InlineData("em0", 400, "EINVAL")]                   // a static interface's name, but no cloner "em": matching comes first
    [InlineData("lo0", 409, "EEXIST")]
    public async Task Bad_names_get_the_kernels_errno(string name, int status, string errno)
    {
        var p = await (await Client.Create(name)).Problem((HttpStatusCode)status, errno);
        Assert.Equal("SIOCIFCREATE2", p.Str("ioctl"));
    }

    [Fact]
    public async Task A_created_interface_has_an_index_an_id_a_location_and_an_etag()
    {
        var r = await Client.Create("tap");
        var ifp = await r.Json(HttpStatusCode.Created);
        var id = ifp.GetProperty("id").GetGuid();
        Assert.Equal($"/v1/interfaces/{id}", r.Headers.Location?.OriginalString);
        Assert.Equal("\"1\"", r.Headers.ETag?.Tag);
        Assert.True(ifp.Int("index") >= 1);
        Assert.StartsWith("f2:0b:a4:", ifp.Str("lladdr"), StringComparison.Ordinal);
        Assert.Equal(("tap", "tap", 1500, false), (ifp.Str("kind"), ifp.Str("cloner"), ifp.Int("mtu"), ifp.GetProperty("up").GetBoolean()));
        Assert.Equal(["all", "tap"], ifp.GetProperty("groups").EnumerateArray().Select(g => g.GetString()));
        Assert.Equal(0, ifp.GetProperty("stats").GetProperty("ipackets").GetInt64());

        var byId = await Client.GetAsync($"/v1/interfaces/{id}");
        Assert.Equal("\"1\"", byId.Headers.ETag?.Tag);
        Assert.Equal(ifp.Str("name"), (await byId.Json()).Str("name"));
        Assert.Equal(id, (await (await Client.GetAsync($"/v1/interfaces/{ifp.Str("name")}")).Json()).GetProperty("id").GetGuid());
    }

    [Fact]
    public async Task Indexes_are_the_lowest_free_and_reused_while_ids_are_never_reused()
    {
        var c = await Client.AttachCloner();
        var a = await Client.CreateOk(c);
        var b = await Client.CreateOk(c);
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{a.Str("name")}")).StatusCode);
        var again = await Client.CreateOk(c);
        Assert.Equal(a.Int("index"), again.Int("index"));
        Assert.Equal(a.Str("name"), again.Str("name"));
        Assert.NotEqual(a.Str("id"), again.Str("id"));
        Assert.NotEqual(b.Int("index"), again.Int("index"));
    }

    [Fact]
    public async Task A_tap_takes_a_given_unicast_lladdr_and_refuses_others()
    {
        var c = await Client.AttachCloner();
        Assert.Equal("02:00:00:aa:bb:01", (await Client.CreateOk(c, new { lladdr = "02:00:00:AA:BB:01" })).Str("lladdr"));
        await (await Client.Create(c, new { lladdr = "01:00:5e:00:00:01" })).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.Create(c, new { lladdr = "02:00:00:aa:bb" })).Problem(HttpStatusCode.BadRequest, "EINVAL");
        var bridge = await Client.AttachCloner("bridge");
        await (await Client.Create(bridge, new { lladdr = "02:00:00:aa:bb:02" })).Problem(HttpStatusCode.UnprocessableEntity, "EOPNOTSUPP");
        Assert.Empty((await (await Client.GetAsync($"/v1/interfaces?cloner={bridge}")).Json()).Names());
    }

    [Fact]
    public async Task Epair_creates_both_ends_and_destroying_one_destroys_both()
    {
        var c = await Client.AttachCloner("epair");
        var a = await Client.CreateOk(c);
        Assert.Equal(($"{c}0a", $"{c}0b"), (a.Str("name"), a.Str("peer")));
        Assert.EndsWith(":0a", a.Str("lladdr"), StringComparison.Ordinal);
        var b = await (await Client.GetAsync($"/v1/interfaces/{c}0b")).Json();
        Assert.Equal(($"{c}0a", 0, a.Int("index") + 1), (b.Str("peer"), b.Int("unit"), b.Int("index")));
        Assert.Equal($"{c}1a", (await Client.CreateOk($"{c}1")).Str("name"));

        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{c}0b")).StatusCode);
        await (await Client.GetAsync($"/v1/interfaces/{c}0a")).Problem(HttpStatusCode.NotFound, "ENXIO");
        Assert.Equal($"{c}0a", (await Client.CreateOk(c)).Str("name"));
        await (await Client.Create($"{c}0a")).Problem(HttpStatusCode.BadRequest, "EINVAL");
    }

    [Fact]
    public async Task An_epair_filling_a_one_index_hole_gives_its_ends_different_indexes()
    {
        await WithFreshStore(async (http, store) =>
        {
            var taps = new List<JsonElement>();
            for (var i = 0; i < 3; i++)
                taps.Add(await http.CreateOk("tap"));
            Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/v1/interfaces/{taps[1].Str("name")}")).StatusCode);
            var a = await http.CreateOk("epair");
            var b = await (await http.GetAsync($"/v1/interfaces/{a.Str("peer")}")).Json();
            Assert.Equal(taps[1].Int("index"), a.Int("index"));
            Assert.Equal(taps[2].Int("index") + 1, b.Int("index"));
            await StoreInvariants.AssertConsistentAsync(store);
        });
    }

    /// <summary>Runs a test on a store of its own, for tests that need to know every index or cloner.</summary>
    private static async Task WithFreshStore(Func<HttpClient, StoreFixture, Task> test)
    {
        var store = (StoreFixture)Activator.CreateInstance(typeof(TStore))!;
        await store.InitializeAsync();
        try
        {
            using var factory = store.NewFactory();
            using var http = factory.CreateClient();
            await test(http, store);
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_dotted_vlan_rides_its_parent_and_outlives_it_unconfigured()
    {
        var c = await Client.AttachCloner();
        var parent = await Client.CreateOk(c);
        var vlan = await Client.CreateOk($"{parent.Str("name")}.100");
        Assert.Equal(("vlan", "vlan", 100, parent.Str("name"), parent.Str("lladdr")),
            (vlan.Str("kind"), vlan.Str("cloner"), vlan.Int("vlan"), vlan.Str("parent"), vlan.Str("lladdr")));
        Assert.Equal(JsonValueKind.Null, vlan.GetProperty("unit").ValueKind);
        await (await Client.Create($"{parent.Str("name")}.100")).Problem(HttpStatusCode.Conflict, "EEXIST");

        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{parent.Str("name")}")).StatusCode);
        var orphan = await (await Client.GetAsync($"/v1/interfaces/{vlan.Str("id")}")).Json();
        Assert.False(orphan.TryGetProperty("parent", out _));
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{vlan.Str("id")}")).StatusCode);
    }

    [Fact]
    public async Task A_dotted_vlan_name_takes_no_params() =>
        await (await Client.Create("em0.77", new { vlan = 5, parent = "em0" })).Problem(HttpStatusCode.BadRequest, "EINVAL");

    [Fact]
    public async Task A_cloner_named_all_puts_its_clones_in_all_once()
    {
        await WithFreshStore(async (http, _) =>
        {
            await (await http.PostAsJsonAsync("/v1/cloners", new { name = "all", kind = "tap", minIfs = 1 })).Json(HttpStatusCode.Created);
            var all1 = await http.CreateOk("all");
            Assert.Equal("all1", all1.Str("name"));
            Assert.Equal(["all"], all1.GetProperty("groups").EnumerateArray().Select(g => g.GetString()));
        });
    }

    [Fact]
    public async Task A_plain_vlan_takes_its_tag_and_parent_from_params()
    {
        var c = await Client.AttachCloner("vlan");
        var v = await Client.CreateOk(c, new { vlan = 42, parent = "em0" });
        Assert.Equal(($"{c}0", 42, "em0"), (v.Str("name"), v.Int("vlan"), v.Str("parent")));
        var bare = await Client.CreateOk(c);
        Assert.False(bare.TryGetProperty("parent", out _));
        await (await Client.Create(c, new { vlan = 42, parent = "nosuch9" })).Problem(HttpStatusCode.NotFound, "ENXIO");
        await (await Client.Create(c, new { vlan = 4095, parent = "em0" })).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.Create(c, new { vlan = 42 })).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.Create(c, new { vlan = 42, parent = "lo0" })).Problem(HttpStatusCode.UnprocessableEntity, "EOPNOTSUPP");
        await (await Client.Create("tap", new { vlan = 42, parent = "em0" })).Problem(HttpStatusCode.UnprocessableEntity, "EOPNOTSUPP");
    }

    [Fact]
    public async Task Clones_join_their_cloners_group_unless_it_is_noGroup()
    {
        var grouped = await Client.AttachCloner();
        var loose = await Client.AttachCloner(noGroup: true);
        Assert.Equal(["all", grouped], (await Client.CreateOk(grouped)).GetProperty("groups").EnumerateArray().Select(g => g.GetString()));
        Assert.Equal(["all"], (await Client.CreateOk(loose)).GetProperty("groups").EnumerateArray().Select(g => g.GetString()));
        Assert.Equal([$"{grouped}0"], (await (await Client.GetAsync($"/v1/interfaces?group={grouped}")).Json()).Names());
        Assert.Empty((await (await Client.GetAsync($"/v1/interfaces?group={loose}")).Json()).Names());
    }

    // ---- destroy ---------------------------------------------------------------------------------

    [Fact]
    public async Task Destroying_the_unknown_is_ENXIO_and_the_uncloned_or_minimum_EINVAL()
    {
        await (await Client.DeleteAsync("/v1/interfaces/nosuch0")).Problem(HttpStatusCode.NotFound, "ENXIO");
        await (await Client.DeleteAsync($"/v1/interfaces/{Guid.NewGuid()}")).Problem(HttpStatusCode.NotFound, "ENXIO");
        await (await Client.DeleteAsync("/v1/interfaces/em0")).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.DeleteAsync("/v1/interfaces/lo0")).Problem(HttpStatusCode.BadRequest, "EINVAL");
        var c = await Client.AttachCloner();
        var ifp = await Client.CreateOk(c);
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{ifp.Str("id")}")).StatusCode);
        await (await Client.DeleteAsync($"/v1/interfaces/{ifp.Str("id")}")).Problem(HttpStatusCode.NotFound, "ENXIO");
    }

    // ---- list ------------------------------------------------------------------------------------

    [Fact]
    public async Task Listing_walks_every_interface_once_in_index_order()
    {
        var c = await Client.AttachCloner();
        for (var i = 0; i < 7; i++)
            await Client.CreateOk(c);
        var seen = new List<JsonElement>();
        string? after = null;
        var pages = 0;
        do
        {
            var page = await (await Client.GetAsync($"/v1/interfaces?limit=3{(after is null ? "" : $"&after={after}")}")).Json();
            seen.AddRange(page.GetProperty("items").EnumerateArray());
            after = page.TryGetProperty("next", out var next) ? next.GetString() : null;
            pages++;
        }
        while (after is not null && pages < 1000);
        var indexes = seen.Select(i => i.Int("index")).ToList();
        Assert.Equal(indexes.Order(), indexes);
        Assert.Equal(indexes.Distinct().Count(), indexes.Count);
        Assert.Equal(7, seen.Count(i => i.Str("cloner") == c));
        var filtered = await (await Client.GetAsync($"/v1/interfaces?cloner={c}&limit=1000")).Json();
        Assert.Equal(Enumerable.Range(0, 7).Select(u => $"{c}{u}"), filtered.Names());
        Assert.False(filtered.TryGetProperty("next", out _));
    }

    [Theory]
    [InlineData("limit=0")]
    [InlineData("limit=1001")]
    [InlineData("limit=-5")]
    [InlineData("limit=abc")]
    [InlineData("after=garbage")]
    [InlineData("after=aTE6")]
    [InlineData("cloner=%00")]
    [InlineData("cloner=tap%00")]
    [InlineData("cloner=TAP")]
    [InlineData("cloner=")]
    [InlineData("group=%00")]
    [InlineData("group=lan%00")]
    [InlineData("group=lan0")]
    [InlineData("group=")]
    public async Task Bad_list_parameters_are_EINVAL(string query) =>
        await (await Client.GetAsync($"/v1/interfaces?{query}")).Problem(HttpStatusCode.BadRequest, "EINVAL");

    // ---- errors ----------------------------------------------------------------------------------

    [Theory]
    [InlineData("{")]
    [InlineData("[]")]
    [InlineData("""{"name": 5}""")]
    [InlineData("""{"name": ["tap"]}""")]
    [InlineData("""{"name": "tap", "params": 3}""")]
    [InlineData("""{"name": "tap", "params": {"vlan": "ten"}}""")]
    [InlineData("""{"nmae": "tap"}""")]
    [InlineData("""{}""")]
    [InlineData("null")]
    [InlineData("")]
    public async Task Malformed_bodies_are_EINVAL_problems(string body) =>
        await (await Client.PostJson("/v1/interfaces", body)).Problem(HttpStatusCode.BadRequest, "EINVAL");

    [Fact]
    public async Task Wrong_media_types_and_unknown_routes_are_problems_too()
    {
        var text = await Client.PostAsync("/v1/interfaces", new StringContent("tap", Encoding.UTF8, "text/plain"));
        await text.Problem(HttpStatusCode.UnsupportedMediaType, "EINVAL");
        await (await Client.GetAsync("/v1/nothing")).Problem(HttpStatusCode.NotFound, "ENOENT");
        await (await Client.PutAsync("/v1/cloners", null)).Problem(HttpStatusCode.MethodNotAllowed, "EOPNOTSUPP");
    }

    [Theory]
    [InlineData("bogus")]
    [InlineData("\"utf-9\"")]
    public async Task A_JSON_body_in_a_charset_nobody_knows_is_415(string charset)
    {
        var body = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"name":"tap"}"""));
        body.Headers.TryAddWithoutValidation("Content-Type", $"application/json; charset={charset}");
        await (await Client.PostAsync("/v1/interfaces", body)).Problem(HttpStatusCode.UnsupportedMediaType, "EINVAL");
        var patch = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"mtu":1400}"""));
        patch.Headers.TryAddWithoutValidation("Content-Type", $"application/merge-patch+json; charset={charset}");
        await (await Client.PatchAsync("/v1/interfaces/lo0", patch)).Problem(HttpStatusCode.UnsupportedMediaType, "EINVAL");
    }

    [Theory]
    [InlineData("application/xml")]
    [InlineData("text/event-stream")]
    public async Task Errors_are_problem_json_whatever_the_client_accepts(string accept)
    {
        // An errno refusal, one that is a 404 (which the exception handler refuses to leave empty), and a status code page.
        (HttpMethod Method, string Url, string? Body, HttpStatusCode Status, string Errno)[] cases =
        [
            (HttpMethod.Post, "/v1/cloners", "{}", HttpStatusCode.BadRequest, "EINVAL"),
            (HttpMethod.Get, "/v1/interfaces/nosuch0", null, HttpStatusCode.NotFound, "ENXIO"),
            (HttpMethod.Put, "/v1/cloners", null, HttpStatusCode.MethodNotAllowed, "EOPNOTSUPP"),
        ];
        foreach (var (method, url, body, status, errno) in cases)
        {
            using var request = new HttpRequestMessage(method, url);
            if (body is not null)
                request.Content = new StringContent(body, Encoding.UTF8, "application/json");
            request.Headers.TryAddWithoutValidation("Accept", accept);
            await (await Client.SendAsync(request)).Problem(status, errno);
        }
    }

    [Fact]
    public async Task Health_endpoints_answer()
    {
        Assert.Equal("alive", (await (await Client.GetAsync("/healthz")).Json()).Str("status"));
        Assert.Equal("ready", (await (await Client.GetAsync("/readyz")).Json()).Str("status"));
    }

    [Fact]
    public async Task State_survives_a_new_host_on_the_sameStore()
    {
        var c = await Client.AttachCloner("epair", maxUnit: 9);
        var a = await Client.CreateOk($"{c}3");
        await Client.CreateOk("tap");
        using var restarted = Store.NewFactory(("Interfaces:Static", "em0,skb0,em0.0"));
        using var http = restarted.CreateClient();
        var cloner = await (await http.GetAsync($"/v1/cloners/{c}")).Json();
        Assert.Equal((9, 2), (cloner.Int("maxUnit"), cloner.Int("interfaces")));
        var again = await (await http.GetAsync($"/v1/interfaces/{c}3a")).Json();
        Assert.Equal((a.Str("id"), a.Int("index"), $"{c}3b"), (again.Str("id"), again.Int("index"), again.Str("peer")));
        Assert.Equal($"{c}0a", (await http.CreateOk(c)).Str("name"));
        await (await http.Create($"{c}3")).Problem(HttpStatusCode.Conflict, "EEXIST");
    }
}
