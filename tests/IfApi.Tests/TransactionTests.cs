using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace IfApi.Tests;

public sealed class SqliteTransactionTests(SqliteStore store) : TransactionTests<SqliteStore>(store);

public sealed class PostgresTransactionTests(PostgresStore store) : TransactionTests<PostgresStore>(store);

/// <summary>
/// <c>POST /v1/transactions</c> (all or nothing, in order, events only on commit) and
/// <c>?dryRun=true</c> on every change (the answer of what would happen, and the store untouched).
/// </summary>
public abstract class TransactionTests<TStore>(TStore store) : ApiTests<TStore>(store, ("Interfaces:Static", "em0")) where TStore : StoreFixture
{
    private static object Op(string method, string path, object? body = null, string? ifMatch = null) => new { method, path, body, ifMatch };

    private Task<HttpResponseMessage> Transaction(string query, params object[] operations) =>
        Client.PostAsJsonAsync("/v1/transactions" + query, new { operations });

    [Fact]
    public async Task Operations_see_the_ones_before_them_and_commit_together()
    {
        var cloner = await Client.AttachCloner();
        var bridge = await Client.AttachCloner("bridge");
        var r = await Transaction("",
            Op("POST", "/v1/interfaces", new { name = bridge }),
            Op("POST", "/v1/interfaces", new { cloner, up = true }),
            Op("POST", "/v1/interfaces", new { cloner }),
            Op("PUT", $"/v1/interfaces/{bridge}0/members/{cloner}0"),
            Op("PUT", $"/v1/interfaces/{bridge}0/members/{cloner}1"),
            Op("PATCH", $"/v1/interfaces/{bridge}0", new { up = true }, "\"3\""),
            Op("PUT", $"/v1/interfaces/{cloner}1/groups/tlab"),
            Op("GET", $"/v1/interfaces/{bridge}0/members"));
        var answer = await r.Json();
        var results = answer.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal([201, 201, 201, 201, 201, 200, 201, 200], results.Select(x => x.Int("status")));
        Assert.False(answer.GetProperty("dryRun").GetBoolean());
        Assert.Equal("\"4\"", results[5].Str("etag"));
        Assert.StartsWith("/v1/interfaces/", results[0].Str("location"));
        Assert.Equal([cloner + "0", cloner + "1"], results[7].GetProperty("body").Strings("members"));
        var b = await Client.GetOk($"/v1/interfaces/{bridge}0");
        Assert.True(b.GetProperty("up").GetBoolean());
        Assert.Equal([cloner + "1"], (await Client.GetOk("/v1/groups/tlab")).Strings("members"));
    }

    [Fact]
    public async Task A_cloner_attached_in_a_transaction_makes_clones_in_it()
    {
        var name = Http.NewClonerName();
        var answer = await (await Transaction("",
            Op("POST", "/v1/cloners", new { name, kind = "tap" }),
            Op("POST", "/v1/interfaces", new { name }),
            Op("POST", "/v1/interfaces", new { cloner = name, unit = 100 }), // far past the part of its pool listed so far
            Op("DELETE", $"/v1/cloners/{name}"),
            Op("POST", "/v1/cloners", new { name, kind = "bridge" }),
            Op("POST", "/v1/interfaces", new { name }))).Json();
        Assert.Equal([201, 201, 201, 204, 201, 201], answer.GetProperty("results").EnumerateArray().Select(x => x.Int("status")));
        var made = await Client.GetOk($"/v1/interfaces/{name}0");
        Assert.Equal("bridge", made.Str("kind"));
        await (await Client.GetAsync($"/v1/interfaces/{name}100")).Problem(HttpStatusCode.NotFound, "ENXIO");
    }

    [Fact]
    public async Task A_dry_run_leaves_no_cloner_behind_for_later_creates()
    {
        var name = Http.NewClonerName();
        await (await Transaction("?dryRun=true",
            Op("POST", "/v1/cloners", new { name, kind = "tap" }),
            Op("POST", "/v1/interfaces", new { name }))).Json();
        await (await Client.PostAsJsonAsync("/v1/interfaces", new { name })).Problem(HttpStatusCode.BadRequest, "EINVAL"); // no such cloner
        await (await Client.PostAsJsonAsync("/v1/cloners", new { name, kind = "bridge" })).Json(HttpStatusCode.Created);
        Assert.Equal("bridge", (await Client.CreateOk(name)).Str("kind"));
    }

    [Fact]
    public async Task A_failure_on_the_last_operation_leaves_nothing_and_announces_nothing()
    {
        var cloner = await Client.AttachCloner();
        var before = await StoreDump.SettledAsync(Store, logical: true);
        var r = await Transaction("",
            Op("POST", "/v1/interfaces", new { cloner }),
            Op("PATCH", $"/v1/interfaces/{cloner}0", new { mtu = 9000 }),
            Op("POST", "/v1/interfaces/" + cloner + "0/groups", new { group = "tx" }),
            Op("DELETE", "/v1/interfaces/lo0"));
        var p = await r.Problem(HttpStatusCode.BadRequest, "EINVAL");
        Assert.Equal(3, p.Int("operation"));
        Assert.Equal("SIOCIFDESTROY", p.Str("ioctl"));
        var after = await StoreDump.SettledAsync(Store, logical: true);
        Assert.True(before == after, StoreDump.Diff(before, after));
        Assert.Equal(cloner + "0", (await Client.CreateOk(cloner)).Str("name"));
    }

    [Fact]
    public async Task A_dry_run_transaction_answers_and_keeps_nothing()
    {
        var cloner = await Client.AttachCloner();
        var before = await StoreDump.SettledAsync(Store);
        var answer = await (await Transaction("?dryRun=true",
            Op("POST", "/v1/interfaces", new { cloner }),
            Op("POST", "/v1/interfaces", new { cloner }),
            Op("DELETE", $"/v1/interfaces/{cloner}0"))).Json();
        Assert.True(answer.GetProperty("dryRun").GetBoolean());
        Assert.Equal([201, 201, 204], answer.GetProperty("results").EnumerateArray().Select(x => x.Int("status")));
        Assert.Equal(cloner + "1", answer.GetProperty("results")[1].GetProperty("body").Str("name"));
        var after = await StoreDump.SettledAsync(Store);
        Assert.True(before == after, StoreDump.Diff(before, after));
    }

    [Fact]
    public async Task A_retry_with_its_idempotency_key_answers_the_first_and_changes_nothing()
    {
        var cloner = await Client.AttachCloner();
        var key = Guid.NewGuid().ToString();
        async Task<HttpResponseMessage> Send(string c)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/transactions")
            {
                Content = JsonContent.Create(new { operations = new[] { Op("POST", "/v1/interfaces", new { cloner = c }) } }),
            };
            request.Headers.Add("Idempotency-Key", key);
            return await Client.SendAsync(request);
        }
        var first = await (await Send(cloner)).Json();
        var retry = await Send(cloner);
        Assert.Equal("true", retry.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(first.GetRawText(), (await retry.Json()).GetRawText());
        Assert.Single((await Client.GetOk($"/v1/interfaces?cloner={cloner}")).GetProperty("items").EnumerateArray());
        await (await Send("lo")).Problem(HttpStatusCode.Conflict, "EEXIST"); // the key with another request
        var asDryRun = new HttpRequestMessage(HttpMethod.Post, "/v1/transactions?dryRun=true")
        {
            Content = JsonContent.Create(new { operations = new[] { Op("POST", "/v1/interfaces", new { cloner }) } }),
        };
        asDryRun.Headers.Add("Idempotency-Key", key);
        var dry = await (await Client.SendAsync(asDryRun)).Json();
        Assert.True(dry.GetProperty("dryRun").GetBoolean()); // the first answer, as a dry run says it
        Assert.Equal(first.GetProperty("results").GetRawText(), dry.GetProperty("results").GetRawText());
    }

    [Fact]
    public async Task Transactions_refuse_what_is_not_an_operation()
    {
        await (await Transaction("")).Problem(HttpStatusCode.BadRequest, "EINVAL");
        await (await Transaction("", Enumerable.Range(0, 1001).Select(_ => Op("GET", "/v1/groups")).ToArray())).Problem(HttpStatusCode.BadRequest, "EINVAL");
        Assert.Equal(1000, (await (await Transaction("", Enumerable.Range(0, 1000).Select(_ => Op("GET", "/v1/cloners/lo")).ToArray())).Json())
            .GetProperty("results").GetArrayLength());
        foreach (var (op, status, errno) in new (object, HttpStatusCode, string)[]
        {
            (Op("GET", "/v1/events"), HttpStatusCode.BadRequest, "EINVAL"),
            (Op("GET", "/v1/tap"), HttpStatusCode.BadRequest, "EINVAL"),
            (Op("POST", "/v1/interfaces/em0/frames", new { }), HttpStatusCode.BadRequest, "EINVAL"),
            (Op("POST", "/v1/transactions", new { operations = Array.Empty<object>() }), HttpStatusCode.BadRequest, "EINVAL"),
            (Op("GET", "/v1/nosuch"), HttpStatusCode.NotFound, "ENOENT"),
            (Op("GET", "/healthz"), HttpStatusCode.BadRequest, "EINVAL"),
            (Op("DELETE", "/v1/groups"), HttpStatusCode.MethodNotAllowed, "EOPNOTSUPP"),
            (Op("FETCH", "/v1/groups"), HttpStatusCode.BadRequest, "EINVAL"),
            (Op("GET", "/v1/interfaces?bogus=1"), HttpStatusCode.BadRequest, "EINVAL"),
            (Op("POST", "/v1/interfaces?dryRun=true", new { name = "tap" }), HttpStatusCode.BadRequest, "EINVAL"),
            (Op("POST", "/v1/interfaces"), HttpStatusCode.BadRequest, "EINVAL"),
            (Op("PATCH", "/v1/interfaces/em0", new { mtu = 1400 }, "\"999\""), HttpStatusCode.PreconditionFailed, "ESTALE"),
        })
        {
            var p = await (await Transaction("", Op("GET", "/v1/groups"), op)).Problem(status, errno);
            Assert.Equal(1, p.Int("operation"));
        }
    }

    [Fact]
    public async Task Eight_transactions_competing_for_units_end_exact()
    {
        var cloner = await Client.AttachCloner();
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            Transaction("", Enumerable.Range(0, 10).Select(_ => Op("POST", "/v1/interfaces", new { cloner })).ToArray())));
        foreach (var a in answers)
            await a.Json();
        var items = (await Client.GetOk($"/v1/interfaces?cloner={cloner}&limit=1000")).GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(Enumerable.Range(0, 80), items.Select(i => i.Int("unit")).Order());
        Assert.Equal(80, items.Select(i => i.Int("index")).Distinct().Count());
    }

    [Fact]
    public async Task A_dry_run_of_every_change_answers_what_the_change_answers_and_leaves_the_store_as_it_was()
    {
        // Every change of a network stack, in the caller's vnet and in one named by the path; then the vnets' own.
        var lab = "dry" + Guid.NewGuid().ToString("N")[..8];
        var away = lab + "m";
        foreach (var v in new[] { lab, away })
            await (await Client.PostAsJsonAsync("/v1/vnets", new { name = v })).Json(HttpStatusCode.Created);
        var changes = new List<(string Method, string Path, string? Body)>();
        foreach (var prefix in new[] { "/v1", $"/v1/vnets/{lab}" })
        {
            var cloner = await AttachAsync(prefix, "tap");
            var bridge = await AttachAsync(prefix, "bridge");
            await (await Client.PostAsJsonAsync($"{prefix}/interfaces", new { name = cloner })).Json(HttpStatusCode.Created);
            await (await Client.PostAsJsonAsync($"{prefix}/interfaces", new { name = bridge })).Json(HttpStatusCode.Created);
            changes.AddRange(new (string Method, string Path, string? Body)[]
            {
                ("POST", $"{prefix}/cloners", """{"name":"dryrun","kind":"tap","minIfs":2}"""),
                ("DELETE", $"{prefix}/cloners/dryrun", null),
                ("POST", $"{prefix}/interfaces", $$"""{"name":"{{cloner}}"}"""),
                ("POST", $"{prefix}/interfaces", $$"""{"cloner":"{{cloner}}","mtu":9000,"groups":["dry"],"up":true}"""),
                ("POST", $"{prefix}/interfaces", $$"""{"name":"{{cloner}}0"}"""),
                ("PUT", $"{prefix}/interfaces/{cloner}9", """{"mtu":1400}"""),
                ("PUT", $"{prefix}/interfaces/{cloner}9", """{"description":"x"}"""),
                ("PATCH", $"{prefix}/interfaces/{cloner}0", """{"name":"dry0","mtu":1280}"""),
                ("PATCH", $"{prefix}/interfaces/dry0", """{"mtu":1}"""),
                ("POST", $"{prefix}/interfaces/dry0/groups", """{"group":"dryg"}"""),
                ("PUT", $"{prefix}/interfaces/dry0/groups/dryh", null),
                ("DELETE", $"{prefix}/interfaces/dry0/groups/dryh", null),
                ("PUT", $"{prefix}/interfaces/{bridge}0/members/dry0", null),
                ("DELETE", $"{prefix}/interfaces/{bridge}0/members/dry0", null),
                ("POST", $"{prefix}/interfaces/dry0/frames", null),
                ("POST", $"{prefix}/transactions", $$$"""{"operations":[{"method":"POST","path":"/v1/interfaces","body":{"name":"{{{cloner}}}"}}]}"""),
                ("PATCH", $"{prefix}/interfaces/{cloner}9", $$"""{"vnet":"{{away}}"}"""),
                ("DELETE", $"{prefix}/interfaces/{bridge}0", null),
                ("DELETE", $"{prefix}/interfaces/dry0", null),
                ("DELETE", $"{prefix}/cloners/{cloner}", null),
            });
        }
        changes.Add(("POST", "/v1/vnets", $$"""{"name":"{{lab}}x","maxInterfaces":8}"""));
        changes.Add(("DELETE", $"/v1/vnets/{lab}x", null));
        changes.Add(("DELETE", $"/v1/vnets/{away}", null));
        // Every change the service maps is here.
        var mapped = Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? []).Where(m => m != "GET")
                .Select(m => $"{m} {e.RoutePattern.RawText!.TrimEnd('/')}")).Order(StringComparer.Ordinal).Distinct();
        Assert.Equal(mapped, changes.Select(c => c.Method + " " + Template(c.Path)).Order(StringComparer.Ordinal).Distinct());

        foreach (var (method, path, body) in changes)
        {
            var before = await StoreDump.SettledAsync(Store);
            using var dry = await Send(method, path + "?dryRun=true", body);
            var dryText = await dry.Content.ReadAsStringAsync();
            var after = await StoreDump.SettledAsync(Store);
            Assert.True(before == after, $"{method} {path} as a dry run changed the store: {StoreDump.Diff(before, after)}");

            using var real = await Send(method, path, body);
            var realText = await real.Content.ReadAsStringAsync();
            Assert.True(real.StatusCode == dry.StatusCode, $"{method} {path}: dry run {(int)dry.StatusCode} {dryText}, real {(int)real.StatusCode} {realText}");
            Assert.Equal(real.Content.Headers.ContentType?.MediaType, dry.Content.Headers.ContentType?.MediaType);
            Assert.Equal(real.Headers.ETag?.Tag, dry.Headers.ETag?.Tag);
            if (real.Content.Headers.ContentType?.MediaType == "application/json")
                Assert.Equal(Stable(realText), Stable(dryText));
            else if (real.Content.Headers.ContentType?.MediaType == "application/problem+json")
                Assert.Equal(JsonDocument.Parse(realText).RootElement.Str("errno"), JsonDocument.Parse(dryText).RootElement.Str("errno"));
        }
    }

    private async Task<string> AttachAsync(string prefix, string kind)
    {
        var name = Http.NewClonerName();
        await (await Client.PostAsJsonAsync($"{prefix}/cloners", new { name, kind })).Json(HttpStatusCode.Created);
        return name;
    }

    private Task<HttpResponseMessage> Send(string method, string url, string? body)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), url);
        if (url.Contains("/frames", StringComparison.Ordinal))
            request.Content = new ByteArrayContent(new byte[60]) { Headers = { { "Content-Type", "application/octet-stream" } } };
        else if (body is not null)
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        return Client.SendAsync(request);
    }

    /// <summary>A path as its route template, for counting which routes the list covers.</summary>
    private static string Template(string path) => path.Split('/') switch
    {
        ["", "v1", "vnets"] => path,
        ["", "v1", "vnets", _] => "/v1/vnets/{vnet}",
        ["", "v1", "vnets", _, .. var rest] => "/v1/vnets/{vnet}" + StackTemplate("/v1/" + string.Join('/', rest))[3..],
        _ => StackTemplate(path),
    };

    private static string StackTemplate(string path) => path switch
    {
        _ when path.EndsWith("/frames", StringComparison.Ordinal) => "/v1/interfaces/{ref}/frames",
        _ when path.Contains("/members/", StringComparison.Ordinal) => "/v1/interfaces/{ref}/members/{member}",
        _ when path.Contains("/groups/", StringComparison.Ordinal) => "/v1/interfaces/{ref}/groups/{group}",
        _ when path.EndsWith("/groups", StringComparison.Ordinal) => "/v1/interfaces/{ref}/groups",
        "/v1/cloners" or "/v1/interfaces" or "/v1/transactions" => path,
        _ when path.StartsWith("/v1/cloners/", StringComparison.Ordinal) => "/v1/cloners/{name}",
        _ => "/v1/interfaces/{ref}",
    };

    /// <summary>An answer without what differs between two runs of one change: ids, times, random addresses, and that one was a dry run.</summary>
    private static string Stable(string json)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(json);
        Strip(node);
        return node!.ToJsonString();

        static void Strip(System.Text.Json.Nodes.JsonNode? n)
        {
            if (n is System.Text.Json.Nodes.JsonObject o)
            {
                foreach (var key in new[] { "id", "createdAt", "lladdr", "location", "dryRun" })
                    o.Remove(key);
                foreach (var (_, v) in o.ToList())
                    Strip(v);
            }
            else if (n is System.Text.Json.Nodes.JsonArray a)
            {
                foreach (var v in a)
                    Strip(v);
            }
        }
    }
}
