using System.Net;
using System.Net.Http.Json;

namespace IfApi.Tests;

public sealed class SqliteInterfaceStateTests(SqliteStore store) : InterfaceStateTests<SqliteStore>(store);

public sealed class PostgresInterfaceStateTests(PostgresStore store) : InterfaceStateTests<PostgresStore>(store);

/// <summary>
/// Rename, attributes and groups (SIOCSIFNAME, SIOCSIF*, SIOCAIFGROUP, SIOCDIFGROUP, SIOCGIFGROUP,
/// SIOCGIFGMEMB) over HTTP on each store, with entity tags and If-Match.
/// </summary>
public abstract class InterfaceStateTests<TStore>(TStore store) : ApiTests<TStore>(store) where TStore : StoreFixture
{
    // ---- rename ----------------------------------------------------------------------------------

    [Fact]
    public async Task A_renamed_interface_keeps_its_identity_and_its_unit_until_destroyed()
    {
        var c = await Client.AttachCloner();
        var before = await Client.CreateOk($"{c}5");
        var renamed = await (await Client.Patch($"{c}5", $$"""{"name":"{{c}}0"}""")).Json();
        Assert.Equal(($"{c}0", before.Str("id"), before.Int("index"), c, 5), (renamed.Str("name"), renamed.Str("id"), renamed.Int("index"), renamed.Str("cloner"), renamed.Int("unit")));
        Assert.Equal(before.Strings("groups"), renamed.Strings("groups"));
        Assert.Equal(2, renamed.GetProperty("version").GetInt64());
        await (await Client.GetAsync($"/v1/interfaces/{c}5")).Problem(HttpStatusCode.NotFound, "ENXIO");

        // The wildcard skips unit 0 (its name is held) and unit 5 (still allocated).
        Assert.Equal($"{c}1", (await Client.CreateOk(c)).Str("name"));
        await (await Client.Create($"{c}5")).Problem(HttpStatusCode.Conflict, "EEXIST");
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{c}0")).StatusCode);
        Assert.Equal(5, (await Client.CreateOk($"{c}5")).Int("unit"));
        Assert.Equal($"{c}0", (await Client.CreateOk(c)).Str("name"));
        await StoreInvariants.AssertConsistentAsync(Store);
    }

    [Fact]
    public async Task Rename_refusals_follow_SIOCSIFNAME()
    {
        var c = await Client.AttachCloner();
        var a = (await Client.CreateOk(c)).Str("name");
        var b = (await Client.CreateOk(c)).Str("name");
        async Task Refused(string json, HttpStatusCode status, string errno)
        {
            var p = await (await Client.Patch(a, json)).Problem(status, errno);
            Assert.Equal("SIOCSIFNAME", p.Str("ioctl"));
        }
        await Refused("""{"name":""}""", HttpStatusCode.BadRequest, "EINVAL");
        await Refused("""{"name":"wan0123456789012"}""", HttpStatusCode.BadRequest, "ENAMETOOLONG");
        await Refused($$"""{"name":"{{b}}"}""", HttpStatusCode.Conflict, "EEXIST");
        await Refused("""{"name":null}""", HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.Patch("nosuch0", """{"name":"x0"}""")).Problem(HttpStatusCode.NotFound, "ENXIO");

        var same = await (await Client.Patch(a, $$"""{"name":"{{a}}"}""")).Json();
        Assert.Equal((a, 1L), (same.Str("name"), same.GetProperty("version").GetInt64()));
    }

    [Fact]
    public async Task Two_clients_renaming_to_one_name_at_once_one_wins_one_gets_EEXIST()
    {
        var c = await Client.AttachCloner();
        for (var round = 0; round < 5; round++)
        {
            var a = (await Client.CreateOk(c)).Str("name");
            var b = (await Client.CreateOk(c)).Str("name");
            var target = $"{c}x{round}";
            var results = await Task.WhenAll(new[] { a, b }.Select(n => Task.Run(() => Client.Patch(n, $$"""{"name":"{{target}}"}"""))));
            Assert.Single(results, r => r.StatusCode == HttpStatusCode.OK);
            await results.Single(r => r.StatusCode != HttpStatusCode.OK).Problem(HttpStatusCode.Conflict, "EEXIST");
        }
        await StoreInvariants.AssertConsistentAsync(Store);
    }

    // ---- attributes ------------------------------------------------------------------------------

    [Fact]
    public async Task Attributes_change_within_their_bounds_and_the_kernels_defaults_are_the_start()
    {
        var lo = await Client.GetOk("/v1/interfaces/lo0");
        Assert.Equal(16384, lo.Int("mtu"));
        Assert.Equal(["loopback", "multicast"], lo.Strings("flags"));

        var c = await Client.AttachCloner();
        var tap = await Client.CreateOk(c);
        Assert.Equal((1500, false), (tap.Int("mtu"), tap.GetProperty("up").GetBoolean()));
        Assert.Equal(["broadcast", "simplex", "multicast"], tap.Strings("flags"));
        var name = tap.Str("name");

        var changed = await (await Client.Patch(name, """{"mtu":9000,"metric":7,"description":"uplink to the lab","up":true,"lladdr":"02:00:00:00:00:2A"}""")).Json();
        Assert.Equal((9000, 7, "uplink to the lab", "02:00:00:00:00:2a", true), (changed.Int("mtu"), changed.Int("metric"), changed.Str("description"), changed.Str("lladdr"), changed.GetProperty("up").GetBoolean()));
        Assert.Equal(["up", "broadcast", "simplex", "multicast"], changed.Strings("flags"));
        Assert.Equal(2, changed.GetProperty("version").GetInt64());

        // flags: the changeable set wanted; broadcast and the rest keep their value, link0 is taken.
        var flagged = await (await Client.Patch(name, """{"flags":["link0"]}""")).Json();
        Assert.Equal(["broadcast", "simplex", "link0", "multicast"], flagged.Strings("flags"));
        Assert.Equal(JsonValueKindNull, (await (await Client.Patch(name, """{"description":null}""")).Json()).GetProperty("description").ValueKind);
        await (await Client.Patch(name, """{"description":"x"}""")).Json();
        Assert.Equal(JsonValueKindNull, (await (await Client.Patch(name, """{"description":""}""")).Json()).GetProperty("description").ValueKind);
    }

    private const System.Text.Json.JsonValueKind JsonValueKindNull = System.Text.Json.JsonValueKind.Null;

    [Theory]
    [InlineData("""{"mtu":71}""", 400, "EINVAL", "SIOCSIFMTU")]
    [InlineData("""{"mtu":65536}""", 400, "EINVAL", "SIOCSIFMTU")]
    [InlineData("""{"mtu":"big"}""", 400, "EINVAL", "SIOCSIFMTU")]
    [InlineData("""{"metric":1.5}""", 400, "EINVAL", "SIOCSIFMETRIC")]
    [InlineData("""{"up":"yes"}""", 400, "EINVAL", "SIOCSIFFLAGS")]
    [InlineData("""{"flags":["up","warp"]}""", 400, "EINVAL", "SIOCSIFFLAGS")]
    [InlineData("""{"flags":"up"}""", 400, "EINVAL", "SIOCSIFFLAGS")]
    [InlineData("""{"up":false,"flags":["up"]}""", 400, "EINVAL", "SIOCSIFFLAGS")]
    [InlineData("""{"lladdr":"ff:ff:ff:ff:ff:ff"}""", 400, "EINVAL", "SIOCSIFLLADDR")]
    [InlineData("""{"lladdr":"f2:0b:a4"}""", 400, "EINVAL", "SIOCSIFLLADDR")]
    [InlineData("""{"speed":100}""", 400, "EINVAL", null)]
    [InlineData("""[1,2]""", 400, "EINVAL", null)]
    [InlineData("""{"mtu":""", 400, "EINVAL", null)]
    [InlineData("""{"description":"\ud800"}""", 400, "EINVAL", null)]
    [InlineData("""{"description":"up\u0000link"}""", 400, "EINVAL", "SIOCSIFDESCR")]
    [InlineData("""{"flags":["up","\udc00"]}""", 400, "EINVAL", null)]
    public async Task Bad_attributes_are_refused_and_nothing_changes(string json, int status, string errno, string? ioctl)
    {
        var c = await Client.AttachCloner();
        var name = (await Client.CreateOk(c)).Str("name");
        var p = await (await Client.Patch(name, json)).Problem((HttpStatusCode)status, errno);
        if (ioctl is not null)
            Assert.Equal(ioctl, p.Str("ioctl"));
        Assert.Equal(1, (await Client.GetOk($"/v1/interfaces/{name}")).GetProperty("version").GetInt64());
    }

    [Fact]
    public async Task A_patch_whose_strings_are_not_UTF_8_is_EINVAL_and_nothing_changes()
    {
        var c = await Client.AttachCloner();
        var name = (await Client.CreateOk(c)).Str("name");
        byte[][] bodies = [[.. "{\"description\":\"a"u8, 0xff, .. "\"}"u8], [.. "{\"na"u8, 0xc0, 0xaf, .. "me\":\"x\"}"u8]];
        foreach (var body in bodies)
        {
            using var request = new HttpRequestMessage(HttpMethod.Patch, $"/v1/interfaces/{name}") { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new("application/merge-patch+json");
            await (await Client.SendAsync(request)).Problem(HttpStatusCode.BadRequest, "EINVAL");
        }
        Assert.Equal(1, (await Client.GetOk($"/v1/interfaces/{name}")).GetProperty("version").GetInt64());
    }

    [Fact]
    public async Task A_description_is_bounded_in_bytes_and_lo_has_no_lladdr()
    {
        var c = await Client.AttachCloner();
        var name = (await Client.CreateOk(c)).Str("name");
        var max = new string('é', 511) + "x"; // 1023 bytes
        Assert.Equal(max, (await (await Client.Patch(name, $$"""{"description":"{{max}}"}""")).Json()).Str("description"));
        await (await Client.Patch(name, $$"""{"description":"{{max}}x"}""")).Problem(HttpStatusCode.BadRequest, "ENAMETOOLONG");
        await (await Client.Patch("lo0", """{"lladdr":"02:00:00:00:00:01"}""")).Problem(HttpStatusCode.UnprocessableEntity, "EOPNOTSUPP");
    }

    [Fact]
    public async Task A_patch_is_all_or_nothing()
    {
        var c = await Client.AttachCloner();
        var name = (await Client.CreateOk(c)).Str("name");
        await (await Client.Patch(name, $$"""{"name":"{{c}}z","mtu":9000,"description":"{{new string('d', 1024)}}"}""")).Problem(HttpStatusCode.BadRequest, "ENAMETOOLONG");
        var after = await Client.GetOk($"/v1/interfaces/{name}");
        Assert.Equal((name, 1500, 1L), (after.Str("name"), after.Int("mtu"), after.GetProperty("version").GetInt64()));
    }

    [Fact]
    public async Task Concurrent_patches_of_one_interface_lose_no_update()
    {
        var c = await Client.AttachCloner();
        var name = (await Client.CreateOk(c)).Str("name");
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => Client.Patch(name, $$"""{"metric":{{i + 1}}}"""))));
        Assert.All(results, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(9, (await Client.GetOk($"/v1/interfaces/{name}")).GetProperty("version").GetInt64());
    }

    // ---- entity tags -----------------------------------------------------------------------------

    [Fact]
    public async Task If_Match_guards_patch_destroy_and_group_changes()
    {
        var c = await Client.AttachCloner();
        var created = await Client.Create(c);
        var name = (await created.Json(HttpStatusCode.Created)).Str("name");
        Assert.Equal("\"1\"", created.Headers.ETag?.Tag);

        await (await Client.Patch(name, """{"mtu":1400}""", ifMatch: "\"7\"")).Problem(HttpStatusCode.PreconditionFailed, "ESTALE");
        await (await Client.Patch(name, """{"mtu":1400}""", ifMatch: "W/\"1\"")).Problem(HttpStatusCode.PreconditionFailed, "ESTALE");
        var ok = await Client.Patch(name, """{"mtu":1400}""", ifMatch: "\"1\"");
        Assert.Equal((HttpStatusCode.OK, "\"2\""), (ok.StatusCode, ok.Headers.ETag?.Tag));
        Assert.Equal(HttpStatusCode.OK, (await Client.Patch(name, """{"mtu":1300}""", ifMatch: "*")).StatusCode);
        var get = await Client.GetAsync($"/v1/interfaces/{name}");
        Assert.Equal(("\"3\"", 1300), (get.Headers.ETag?.Tag, (await get.Json()).Int("mtu")));

        var stale = new HttpRequestMessage(HttpMethod.Put, $"/v1/interfaces/{name}/groups/lan");
        stale.Headers.TryAddWithoutValidation("If-Match", "\"2\"");
        await (await Client.SendAsync(stale)).Problem(HttpStatusCode.PreconditionFailed, "ESTALE");

        var destroyStale = new HttpRequestMessage(HttpMethod.Delete, $"/v1/interfaces/{name}");
        destroyStale.Headers.TryAddWithoutValidation("If-Match", "\"2\"");
        await (await Client.SendAsync(destroyStale)).Problem(HttpStatusCode.PreconditionFailed, "ESTALE");
        var destroy = new HttpRequestMessage(HttpMethod.Delete, $"/v1/interfaces/{name}");
        destroy.Headers.TryAddWithoutValidation("If-Match", "\"1\", \"3\"");
        Assert.Equal(HttpStatusCode.NoContent, (await Client.SendAsync(destroy)).StatusCode);
        await StoreInvariants.AssertConsistentAsync(Store);
    }

    // ---- pagination ------------------------------------------------------------------------------

    [Fact]
    public async Task Paging_while_others_create_destroy_and_rename_skips_and_repeats_nothing()
    {
        var stable = await Client.AttachCloner();
        var churn = await Client.AttachCloner();
        var kept = new List<string>();
        for (var i = 0; i < 20; i++)
            kept.Add((await Client.CreateOk(stable)).Str("id"));
        using var stop = new CancellationTokenSource();
        var churning = Task.Run(async () =>
        {
            // Creates take freed low indexes (behind the cursor and ahead of it), destroys free them,
            // renames change names but never an index.
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var made = (await Client.CreateOk(churn)).Str("name");
                await (await Client.Patch(kept[n % kept.Count], $$"""{"description":"pass {{n}}"}""")).Json();
                if (n % 2 == 0)
                    await Client.DeleteAsync($"/v1/interfaces/{made}");
            }
        });
        var seen = new List<(string Id, int Index)>();
        string? after = null;
        do
        {
            var page = await Client.GetOk($"/v1/interfaces?limit=3{(after is null ? "" : $"&after={after}")}");
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(i => (i.Str("id"), i.Int("index"))));
            after = page.TryGetProperty("next", out var next) ? next.GetString() : null;
            await Task.Delay(5);
        }
        while (after is not null);
        await stop.CancelAsync();
        await churning;

        Assert.Equal(seen.Select(x => x.Index).Order(), seen.Select(x => x.Index));
        Assert.Equal(seen.Count, seen.Select(x => x.Id).Distinct().Count());
        Assert.All(kept, id => Assert.Single(seen, x => x.Id == id));
    }

    // ---- Idempotency-Key -------------------------------------------------------------------------

    private Task<HttpResponseMessage> CreateWithKey(string name, string key, object? parameters = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/interfaces")
        {
            Content = JsonContent.Create<object>(parameters is null ? new { name } : new { name, @params = parameters }),
        };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        return Client.SendAsync(request);
    }

    [Fact]
    public async Task A_retried_create_with_the_same_key_answers_the_same_and_creates_nothing()
    {
        var c = await Client.AttachCloner();
        var key = Guid.NewGuid().ToString();
        var first = await CreateWithKey(c, key);
        var firstBody = await first.Json(HttpStatusCode.Created);
        var retry = await CreateWithKey(c, key);
        var retryBody = await retry.Json(HttpStatusCode.Created);
        Assert.Equal((firstBody.Str("id"), firstBody.Str("name"), firstBody.Int("index")), (retryBody.Str("id"), retryBody.Str("name"), retryBody.Int("index")));
        Assert.Equal(first.Headers.Location, retry.Headers.Location);
        Assert.True(retry.Headers.Contains("Idempotent-Replayed"));
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Single((await Client.GetOk($"/v1/interfaces?cloner={c}")).Names());

        await (await CreateWithKey($"{c}5", key)).Problem(HttpStatusCode.Conflict, "EEXIST");
        Assert.Equal($"{c}1", (await (await CreateWithKey(c, Guid.NewGuid().ToString())).Json(HttpStatusCode.Created)).Str("name"));
    }

    [Fact]
    public async Task Parallel_retries_with_one_key_create_one_interface()
    {
        var c = await Client.AttachCloner("epair");
        var key = Guid.NewGuid().ToString();
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () => await (await CreateWithKey(c, key)).Json(HttpStatusCode.Created))));
        Assert.Single(answers.Select(a => a.Str("id")).Distinct());
        Assert.Equal(2, (await Client.GetOk($"/v1/interfaces?cloner={c}")).Names().Length); // one epair: two ends
        await StoreInvariants.AssertConsistentAsync(Store);
    }

    [Fact]
    public async Task A_create_that_failed_keeps_no_key()
    {
        var c = await Client.AttachCloner(maxUnit: 0);
        await Client.CreateOk(c);
        var key = Guid.NewGuid().ToString();
        await (await CreateWithKey(c, key)).Problem(HttpStatusCode.Conflict, "ENOSPC");
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{c}0")).StatusCode);
        Assert.Equal($"{c}0", (await (await CreateWithKey(c, key)).Json(HttpStatusCode.Created)).Str("name"));
    }

    [Theory]
    [InlineData("with space")]
    [InlineData("é")]
    public async Task A_malformed_key_is_EINVAL(string key)
    {
        var c = await Client.AttachCloner();
        await (await CreateWithKey(c, key)).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await CreateWithKey(c, new string('k', 256))).Problem(HttpStatusCode.BadRequest, "EINVAL");
    }

    // ---- groups ----------------------------------------------------------------------------------

    [Fact]
    public async Task Joining_and_leaving_groups_follows_SIOCAIFGROUP_and_SIOCDIFGROUP()
    {
        var c = await Client.AttachCloner();
        var a = (await Client.CreateOk(c)).Str("name");
        var b = (await Client.CreateOk(c)).Str("name");
        var lan = c + "lan";

        var added = await Client.PostAsJsonAsync($"/v1/interfaces/{a}/groups", new { group = lan });
        Assert.Equal(["all", c, lan], (await added.Json(HttpStatusCode.Created)).Strings("groups"));
        Assert.Equal("\"2\"", added.Headers.ETag?.Tag);
        var again = await (await Client.PostAsJsonAsync($"/v1/interfaces/{a}/groups", new { group = lan })).Problem(HttpStatusCode.Conflict, "EEXIST");
        Assert.Equal("SIOCAIFGROUP", again.Str("ioctl"));
        Assert.Equal(HttpStatusCode.OK, (await Client.PutAsync($"/v1/interfaces/{a}/groups/{lan}", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await Client.PutAsync($"/v1/interfaces/{b}/groups/{lan}", null)).StatusCode);

        Assert.Equal(["all", c, lan], (await Client.GetOk($"/v1/interfaces/{b}/groups")).Strings("groups"));
        var group = await Client.GetOk($"/v1/groups/{lan}");
        Assert.Equal(lan, group.Str("name"));
        Assert.Equal([a, b], group.Strings("members"));
        var all = await Client.GetOk("/v1/groups");
        Assert.Contains(all.GetProperty("items").EnumerateArray(), g => g.Str("name") == lan && g.Strings("members").SequenceEqual([a, b]));
        Assert.Contains(all.GetProperty("items").EnumerateArray(), g => g.Str("name") == "all" && g.Strings("members").Contains(a));
        Assert.Equal([a, b], (await Client.GetOk($"/v1/interfaces?group={lan}")).Names());

        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{a}/groups/{lan}")).StatusCode);
        var notIn = await (await Client.DeleteAsync($"/v1/interfaces/{a}/groups/{lan}")).Problem(HttpStatusCode.NotFound, "ENOENT");
        Assert.Equal("SIOCDIFGROUP", notIn.Str("ioctl"));
        // Destroying the last member ends the group, in the destroy's transaction.
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{b}")).StatusCode);
        await (await Client.GetAsync($"/v1/groups/{lan}")).Problem(HttpStatusCode.NotFound, "ENOENT");
        Assert.DoesNotContain((await Client.GetOk("/v1/groups")).GetProperty("items").EnumerateArray(), g => g.Str("name") == lan);

        // Leaving all is allowed, as in the kernel.
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{a}/groups/all")).StatusCode);
        Assert.Equal([c], (await Client.GetOk($"/v1/interfaces/{a}/groups")).Strings("groups"));
    }

    [Theory]
    [InlineData("", 400, "EINVAL")]
    [InlineData("lan1", 400, "EINVAL")]
    [InlineData("abcdefghijklmnop", 400, "ENAMETOOLONG")]
    [InlineData("a b", 400, "EINVAL")]
    public async Task Bad_group_names_are_refused(string group, int status, string errno)
    {
        var c = await Client.AttachCloner();
        var a = (await Client.CreateOk(c)).Str("name");
        await (await Client.PostAsJsonAsync($"/v1/interfaces/{a}/groups", new { group })).Problem((HttpStatusCode)status, errno);
        if (group.Length > 0)
        {
            await (await Client.PutAsync($"/v1/interfaces/{a}/groups/{Uri.EscapeDataString(group)}", null)).Problem((HttpStatusCode)status, errno);
            await (await Client.GetAsync($"/v1/groups/{Uri.EscapeDataString(group)}")).Problem((HttpStatusCode)status, errno);
        }
        await (await Client.PostAsJsonAsync($"/v1/interfaces/{a}/groups", new { })).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Client.PostAsJsonAsync("/v1/interfaces/nosuch0/groups", new { group = "lan" })).Problem(HttpStatusCode.NotFound, "ENXIO");
        await (await Client.GetAsync("/v1/interfaces/nosuch0/groups")).Problem(HttpStatusCode.NotFound, "ENXIO");
    }

    [Fact]
    public async Task Parallel_joins_of_one_group_add_it_once()
    {
        var c = await Client.AttachCloner();
        var a = (await Client.CreateOk(c)).Str("name");
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => Client.PostAsJsonAsync($"/v1/interfaces/{a}/groups", new { group = "wan" }))));
        Assert.Single(results, r => r.StatusCode == HttpStatusCode.Created);
        Assert.All(results.Where(r => r.StatusCode != HttpStatusCode.Created), r => Assert.Equal(HttpStatusCode.Conflict, r.StatusCode));
        Assert.Equal(2, (await Client.GetOk($"/v1/interfaces/{a}")).GetProperty("version").GetInt64());
    }
}
