using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace IfApi.Tests;

public sealed class SqliteDeclarationTests(SqliteStore store) : DeclarationTests<SqliteStore>(store);

public sealed class PostgresDeclarationTests(PostgresStore store) : DeclarationTests<PostgresStore>(store);

/// <summary>
/// The declarative create (the whole interface in one request) and the upsert by name (PUT), as
/// infrastructure-as-code tools use them: what was declared reads back unchanged, and a refusal
/// anywhere in the declaration leaves nothing behind.
/// </summary>
public abstract class DeclarationTests<TStore>(TStore store) : ApiTests<TStore>(store) where TStore : StoreFixture
{
    [Fact]
    public async Task A_declared_interface_reads_back_as_declared()
    {
        var cloner = await Client.AttachCloner();
        var name = cloner[..Math.Min(cloner.Length, 9)] + "wan";
        var declared = new { cloner, name, mtu = 9000, metric = 7, description = "uplink", up = true, lladdr = "02:00:5e:00:00:01", groups = new[] { "dlan" } };
        var r = await Client.PostAsJsonAsync("/v1/interfaces", declared);
        var created = await r.Json(HttpStatusCode.Created);
        var read = await Client.GetOk($"/v1/interfaces/{created.Str("id")}");
        foreach (var ifp in new[] { created, read })
        {
            Assert.Equal((cloner, name, 0, 9000, 7, "uplink", true, "02:00:5e:00:00:01"),
                (ifp.Str("cloner"), ifp.Str("name"), ifp.Int("unit"), ifp.Int("mtu"), ifp.Int("metric"), ifp.Str("description"), ifp.GetProperty("up").GetBoolean(), ifp.Str("lladdr")));
            Assert.Equal(["all", "dlan", cloner], ifp.Strings("groups"));
        }
        Assert.Equal(r.Headers.ETag!.Tag, $"\"{read.GetProperty("version").GetInt64()}\"");
        Assert.Equal([name], (await Client.GetOk("/v1/groups/dlan")).Strings("members"));
    }

    [Fact]
    public async Task A_cloner_with_a_unit_or_a_name_of_its_own_creates_that_unit()
    {
        var cloner = await Client.AttachCloner();
        var seven = await (await Client.PostAsJsonAsync("/v1/interfaces", new { cloner, unit = 7 })).Json(HttpStatusCode.Created);
        Assert.Equal((cloner + "7", 7), (seven.Str("name"), seven.Int("unit")));
        var nine = await (await Client.PostAsJsonAsync("/v1/interfaces", new { cloner, name = cloner + "9" })).Json(HttpStatusCode.Created);
        Assert.Equal((cloner + "9", 9), (nine.Str("name"), nine.Int("unit")));
        var first = await (await Client.PostAsJsonAsync("/v1/interfaces", new { cloner })).Json(HttpStatusCode.Created);
        Assert.Equal((cloner + "0", 0, cloner), (first.Str("name"), first.Int("unit"), first.Str("cloner")));
        // Unit 7 and a name of unit 8 disagree: unit 7 is made and renamed, and unit 7 is taken.
        await (await Client.PostAsJsonAsync("/v1/interfaces", new { cloner, unit = 7, name = cloner + "8" })).Problem(HttpStatusCode.Conflict, "EEXIST");
    }

    [Fact]
    public async Task The_classic_create_takes_settings_too()
    {
        var cloner = await Client.AttachCloner();
        var plain = await Client.CreateOk(cloner);
        Assert.Equal(cloner + "0", plain.Str("name"));
        var set = await (await Client.PostAsJsonAsync("/v1/interfaces", new { name = cloner, mtu = 9000, up = true })).Json(HttpStatusCode.Created);
        Assert.Equal((cloner + "1", 9000, true), (set.Str("name"), set.Int("mtu"), set.GetProperty("up").GetBoolean()));
    }

    [Theory]
    [InlineData("""{"mtu":10}""", "EINVAL")]
    [InlineData("""{"groups":["bad1"]}""", "EINVAL")]
    [InlineData("""{"flags":["nosuch"]}""", "EINVAL")]
    [InlineData("""{"up":true,"flags":[]}""", "EINVAL")]
    [InlineData("""{"description":"x","name":"lo0"}""", "EEXIST")]
    [InlineData("""{"lladdr":"01:00:5e:00:00:01"}""", "EINVAL")]
    [InlineData("""{"unit":-1}""", "EINVAL")]
    [InlineData("""{"unit":70000}""", "ENOSPC")]
    public async Task A_refused_declaration_leaves_nothing_behind(string settings, string errno)
    {
        var cloner = await Client.AttachCloner();
        var body = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(settings)!;
        body["cloner"] = JsonSerializer.SerializeToElement(cloner);
        var before = await StoreDump.SettledAsync(Store, logical: true);
        await (await Client.PostAsJsonAsync("/v1/interfaces", body)).Problem(errno is "EEXIST" or "ENOSPC" ? HttpStatusCode.Conflict : HttpStatusCode.BadRequest, errno);
        var after = await StoreDump.SettledAsync(Store, logical: true);
        Assert.True(before == after, StoreDump.Diff(before, after));
        Assert.Equal(cloner + "0", (await Client.CreateOk(cloner)).Str("name")); // its unit 0 was never taken
    }

    [Fact]
    public async Task Put_creates_exactly_the_name_then_replaces_what_differs()
    {
        var cloner = await Client.AttachCloner();
        var name = cloner + "5";
        var r = await Put(name, new { mtu = 1400, description = "one", groups = new[] { "pa" } });
        var created = await r.Json(HttpStatusCode.Created);
        Assert.Equal((name, 5, 1400, "one"), (created.Str("name"), created.Int("unit"), created.Int("mtu"), created.Str("description")));
        Assert.EndsWith(created.Str("id"), r.Headers.Location!.ToString());

        // Replace: what is declared is set, the rest goes back to its default, groups become the declared ones.
        var replaced = await (await Put(name, new { up = true, groups = new[] { "pb" } })).Json();
        Assert.Equal((created.Str("id"), 1500, true), (replaced.Str("id"), replaced.Int("mtu"), replaced.GetProperty("up").GetBoolean()));
        Assert.Equal(JsonValueKind.Null, replaced.GetProperty("description").ValueKind);
        Assert.Equal(["all", "pb", cloner], replaced.Strings("groups"));
        Assert.Equal(created.Str("lladdr"), replaced.Str("lladdr"));

        // The same declaration again changes nothing, not even the version.
        var again = await (await Put(name, new { up = true, groups = new[] { "pb" } })).Json();
        Assert.Equal(replaced.GetProperty("version").GetInt64(), again.GetProperty("version").GetInt64());
    }

    [Fact]
    public async Task Put_honours_if_match_and_if_none_match()
    {
        var cloner = await Client.AttachCloner();
        var name = cloner + "1";
        await (await Put(name, new { }, ifMatch: "*")).Problem(HttpStatusCode.PreconditionFailed, "ESTALE"); // nothing to match
        var created = await (await Put(name, new { }, ifNoneMatch: "*")).Json(HttpStatusCode.Created);
        await (await Put(name, new { mtu = 1280 }, ifNoneMatch: "*")).Problem(HttpStatusCode.PreconditionFailed, "ESTALE");
        var etag = $"\"{created.GetProperty("version").GetInt64()}\"";
        await (await Put(name, new { mtu = 1280 }, ifMatch: "\"999\"")).Problem(HttpStatusCode.PreconditionFailed, "ESTALE");
        var changed = await (await Put(name, new { mtu = 1280 }, ifMatch: etag)).Json();
        Assert.Equal(1280, changed.Int("mtu"));
        await (await Put(name, new { mtu = 1300 }, ifMatch: etag)).Problem(HttpStatusCode.PreconditionFailed, "ESTALE");
        Assert.Equal(1280, (await Client.GetOk($"/v1/interfaces/{name}")).Int("mtu"));
    }

    [Fact]
    public async Task Put_refuses_what_it_cannot_make_exactly()
    {
        var cloner = await Client.AttachCloner();
        var other = await Client.AttachCloner();
        await (await Put(cloner, new { })).Problem(HttpStatusCode.BadRequest, "EINVAL"); // a wildcard would make cloner0
        Assert.Equal(cloner + "0", (await Client.CreateOk(cloner)).Str("name"));        // and it left nothing
        await (await Put(cloner + "0", new { cloner = other })).Problem(HttpStatusCode.Conflict, "EEXIST");
        await (await Put(cloner + "0", new { unit = 3, cloner })).Problem(HttpStatusCode.Conflict, "EEXIST");
        await (await Put(cloner + "0", new { name = cloner + "1" })).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Put("nocloner0", new { })).Problem(HttpStatusCode.BadRequest, "EINVAL");

        // With a cloner, any name: the clone is made and named so.
        var named = await (await Put("edge" + cloner[..4], new { cloner })).Json(HttpStatusCode.Created);
        Assert.Equal((cloner, 1), (named.Str("cloner"), named.Int("unit")));
    }

    [Fact]
    public async Task Two_puts_of_one_new_name_make_one_interface()
    {
        var cloner = await Client.AttachCloner();
        for (var i = 0; i < 8; i++)
        {
            var name = cloner + (10 + i);
            var both = await Task.WhenAll(Put(name, new { description = "a" }), Put(name, new { description = "b" }));
            Assert.True(both.Select(r => r.StatusCode).Order().SequenceEqual([HttpStatusCode.OK, HttpStatusCode.Created]),
                string.Join("; ", await Task.WhenAll(both.Select(async r => $"{(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}"))));
            var guarded = await Task.WhenAll(Put(cloner + (30 + i), new { }, ifNoneMatch: "*"), Put(cloner + (30 + i), new { }, ifNoneMatch: "*"));
            Assert.Equal([HttpStatusCode.Created, HttpStatusCode.PreconditionFailed], guarded.Select(r => r.StatusCode).Order());
        }
        var list = await Client.GetOk($"/v1/interfaces?cloner={cloner}");
        Assert.Equal(16, list.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task A_guarded_put_never_overwrites_a_change_it_did_not_see()
    {
        var cloner = await Client.AttachCloner();
        var name = cloner + "3";
        await (await Put(name, new { })).Json(HttpStatusCode.Created);
        for (var i = 0; i < 15; i++)
        {
            var version = (await Client.GetOk($"/v1/interfaces/{name}")).GetProperty("version").GetInt64();
            // A patch without a condition, and a replace guarded by the version both read: when both
            // succeed, the replace went first (it resets the description), and the patch's value stays.
            var (patch, put) = (Client.Patch(name, $$"""{"description":"p{{i}}"}"""), Put(name, new { mtu = 1400 + i }, ifMatch: $"\"{version}\""));
            await Task.WhenAll(patch, put);
            Assert.Equal(HttpStatusCode.OK, (await patch).StatusCode);
            var after = await Client.GetOk($"/v1/interfaces/{name}");
            if ((await put).StatusCode == HttpStatusCode.OK)
                Assert.Equal(($"p{i}", 1400 + i), (after.Str("description"), after.Int("mtu")));
            else
                await (await put).Problem(HttpStatusCode.PreconditionFailed, "ESTALE");
        }
    }

    private Task<HttpResponseMessage> Put(string name, object body, string? ifMatch = null, string? ifNoneMatch = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/interfaces/{name}") { Content = JsonContent.Create(body) };
        if (ifMatch is not null)
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        if (ifNoneMatch is not null)
            request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch);
        return Client.SendAsync(request);
    }
}
