using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace IfApi.Tests;

public sealed class SqliteJunkInputTests(SqliteStore store, ITestOutputHelper output)
    : JunkInputTests<SqliteStore>(store, output, JunkSweeps.All, mixed: 1000);

/// <summary>
/// The same junk on PostgreSQL, which refuses some text SQLite keeps (a NUL): the sweeps that carry
/// strings to the store, and the mixed requests (enough that each operation, in the caller's vnet and
/// in a named one, gets some).
/// </summary>
public sealed class PostgresJunkInputTests(PostgresStore store, ITestOutputHelper output)
    : JunkInputTests<PostgresStore>(store, output, JunkSweeps.Members | JunkSweeps.Queries, mixed: 1000);

/// <summary>Which systematic passes a run makes before its mixed requests.</summary>
[Flags]
public enum JunkSweeps
{
    None = 0,
    Bodies = 1,
    Members = 2,
    Segments = 4,
    Queries = 8,
    Headers = 16,
    Methods = 32,
    All = Bodies | Members | Segments | Queries | Headers | Methods,
}

/// <summary>
/// Junk sent to every endpoint the service maps: bodies of every wrong type and size, names and path
/// segments no interface could carry, bad query values, ids of nothing, bad headers, wrong methods.
/// The property: no answer is a 5xx, and every 4xx is problem+json with an <c>errno</c> (SPEC §3).
/// The endpoints come from the app's own routing table, so a new endpoint is covered by being mapped;
/// request members and query parameters come from the OpenAPI document the service serves.
/// A few real interfaces are made first, so that junk aimed at them reaches the code behind the lookup.
/// Deterministic: one seeded generator (<c>IFAPI_TEST_JUNK_SEED</c> to try another), named in every failure.
/// </summary>
public abstract class JunkInputTests<TStore> : ApiTests<TStore> where TStore : StoreFixture
{
    private const int DefaultSeed = 20240611;

    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(10);

    private readonly ITestOutputHelper _output;
    private readonly JunkSweeps _sweeps;
    private readonly int _mixed;
    private readonly int _seed;
    private readonly Junk _junk;
    private readonly List<(string Kind, string Line)> _failures = [];
    private readonly Dictionary<int, int> _statuses = [];
    // What the document lists for each operation ("METHOD /template"), and what the junk got from it.
    private readonly Dictionary<string, HashSet<string>> _documented = [];
    private readonly Dictionary<string, SortedSet<int>> _received = [];
    private readonly Dictionary<string, Operation> _operations = [];
    private readonly Dictionary<(string, int), string> _example = [];
    private readonly Dictionary<Operation, string> _plausible = [];
    private Realm _realm = null!;
    private int _sent;
    private int _refused;

    protected JunkInputTests(TStore store, ITestOutputHelper output, JunkSweeps sweeps, int mixed)
        : base(store, ("Interfaces:Static", "em0"))
    {
        _output = output;
        _sweeps = sweeps;
        _mixed = mixed;
        _seed = int.TryParse(Environment.GetEnvironmentVariable("IFAPI_TEST_JUNK_SEED"), out var s) ? s : DefaultSeed;
        _junk = new Junk(_seed);
    }

    [Fact]
    public async Task Junk_sent_to_every_endpoint_is_answered_with_a_problem_and_never_a_5xx()
    {
        var clock = Stopwatch.StartNew();
        var endpoints = await EndpointsAsync();
        _realm = await Realm.MakeAsync(Client);
        foreach (var e in endpoints)
            _plausible[e] = await PlausibleBodyAsync(e);

        if (_sweeps.HasFlag(JunkSweeps.Bodies)) // every junk body at every endpoint, aimed at a real object
            foreach (var e in endpoints)
                foreach (var body in Junk.Bodies)
                    await CheckAsync(() => new JunkRequest(e.Template, e.Method, e.Path(_realm.Ref), [], body(_junk)));

        if (_sweeps.HasFlag(JunkSweeps.Members)) // every junk value in every member of every request body, the rest plausible
            foreach (var e in endpoints)
                foreach (var member in e.Members)
                    foreach (var value in Junk.Values)
                        await CheckAsync(() => new JunkRequest(e.Template, e.Method, e.Path(_realm.Ref), [], Json(WithMember(e, member, value))));

        if (_sweeps.HasFlag(JunkSweeps.Segments)) // every junk path segment in every route parameter, the others real
            foreach (var e in endpoints)
                foreach (var parameter in e.Parameters)
                    foreach (var segment in Junk.Segments)
                        await CheckAsync(() => new JunkRequest(e.Template, e.Method, e.Path(p => p == parameter ? segment : _realm.Ref(p)), [], Json(_plausible[e])));

        if (_sweeps.HasFlag(JunkSweeps.Queries)) // every junk value of every query parameter an endpoint documents
            foreach (var e in endpoints)
                foreach (var name in e.Query)
                    foreach (var value in Junk.QueryValues(name))
                        await CheckAsync(() => new JunkRequest(e.Template, e.Method, e.Path(_realm.Ref) + "?" + name + "=" + value, [], Json(_plausible[e])));

        if (_sweeps.HasFlag(JunkSweeps.Headers)) // every junk header at every endpoint
            foreach (var e in endpoints)
                foreach (var header in Junk.Headers)
                    await CheckAsync(() => new JunkRequest(e.Template, e.Method, e.Path(_realm.Ref), [header], Json(_plausible[e])));

        if (_sweeps.HasFlag(JunkSweeps.Methods)) // every method a path does not take
            foreach (var path in endpoints.GroupBy(e => e.Template))
                foreach (var method in Junk.Methods.Except(path.Select(e => e.Method)))
                    await CheckAsync(() => new JunkRequest(path.Key, method, path.First().Path(_realm.Ref), [], _junk.Chance(0.5) ? Json(_plausible[path.First()]) : null));

        // Then junk in several places at once, drawn at random.
        for (var i = 0; i < _mixed; i++)
            await CheckAsync(() => Mixed(endpoints));

        // Unknown routes are problems too.
        foreach (var path in new[] { "/", "/v1", "/v2/interfaces", "/v1/interfaces/tap0/nosuch", "/v1/nosuch", "/v1/interfaces/a/b/c/d" })
            await CheckAsync(() => new JunkRequest(path, "GET", path, [], null));

        // The service is still whole afterwards.
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync("/readyz")).StatusCode);
        await Client.GetOk($"/v1/interfaces/{_realm.TapId}");

        _output.WriteLine($"seed {_seed}: {_sent} requests ({_refused} refused by the host before the service) in {clock.Elapsed.TotalSeconds:F1} s; statuses "
            + string.Join(", ", _statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}")));
        // Every status an operation answered is one the document lists for it; every operation answered some.
        Assert.True(_received.Count == _documented.Count, "no answer attributed to " + string.Join(", ", _documented.Keys.Except(_received.Keys)));
        var undocumented = _received.SelectMany(r => r.Value.Where(st => !_documented[r.Key].Contains(st.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            .Select(st => $"{r.Key} answered {st}, which the document does not list (to {_example[(r.Key, st)]})")).ToList();
        Assert.True(undocumented.Count == 0, string.Join("\n", undocumented));
        Assert.True(_failures.Count == 0,
            $"seed {_seed}: {_failures.Count} of {_sent} answers broke the rules (no 5xx; a 4xx is problem+json with errno):\n"
            + string.Join("\n", _failures.CountBy(f => f.Kind).Select(k => $"  {k.Value}× {k.Key}")) + "\nthe first of them:\n"
            + string.Join("\n", _failures.Take(40).Select(f => f.Line)));
    }

    private static JunkBody Json(string json) => new("json", Encoding.UTF8.GetBytes(json), "application/json");

    /// <summary>The endpoint's plausible body with one member (a path like <c>params.vlan</c>) set to raw JSON <paramref name="value"/>.</summary>
    private string WithMember(Operation e, string member, string value)
    {
        const string Mark = "JUNK-VALUE-HERE";
        var body = JsonNode.Parse(_plausible[e]) as JsonObject ?? [];
        var names = member.Split('.');
        var at = body;
        foreach (var name in names[..^1])
            at = (JsonObject)(at[name] is JsonObject inner ? inner : at[name] = new JsonObject());
        at[names[^1]] = Mark;
        return body.ToJsonString().Replace($"\"{Mark}\"", value, StringComparison.Ordinal);
    }

    /// <summary>A request with junk in a few randomly chosen places, the rest plausible.</summary>
    private JunkRequest Mixed(IReadOnlyList<Operation> endpoints)
    {
        var e = _junk.Pick(endpoints);
        var method = _junk.Chance(0.1) ? _junk.Pick(Junk.Methods) : e.Method;
        var path = e.Path(p => _junk.Chance(0.4) ? _junk.Pick(Junk.Segments) : _realm.Ref(p));
        var query = new List<string>();
        if (_junk.Chance(0.4))
            foreach (var name in e.Query.Where(_ => _junk.Chance(0.6)))
                query.Add(name + "=" + _junk.Pick(Junk.QueryValues(name)));
        if (_junk.Chance(0.1))
            query.Add(_junk.Pick(Junk.Segments) + "=" + _junk.Pick(Junk.Segments));
        if (query.Count > 0)
            path += "?" + string.Join('&', query);
        var headers = new List<(string, string)>();
        while (_junk.Chance(0.3))
            headers.Add(_junk.Pick(Junk.Headers));
        var body = _junk.Chance(0.3) ? _junk.Pick(Junk.Bodies)(_junk)
            : e.Members.Length > 0 && _junk.Chance(0.6) ? Json(WithMember(e, _junk.Pick(e.Members), _junk.Pick(Junk.Values)))
            : Json(_plausible[e]);
        return new JunkRequest(e.Template, method, path, headers, body);
    }

    // ---- sending and judging --------------------------------------------------------------------

    private async Task CheckAsync(Func<JunkRequest> make)
    {
        var junk = make();
        _sent++;
        Uri uri;
        try
        {
            uri = new Uri("http://localhost" + junk.Url);
        }
        catch (UriFormatException)
        {
            return; // no client could send it either
        }
        using var request = new HttpRequestMessage(new HttpMethod(junk.Method), uri);
        if (junk.Body is { } body)
        {
            request.Content = new ByteArrayContent(body.Bytes);
            if (body.ContentType is not null)
                request.Content.Headers.TryAddWithoutValidation("Content-Type", body.ContentType);
        }
        foreach (var (name, value) in junk.Headers)
        {
            if (name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase))
            {
                request.Content ??= new ByteArrayContent([]);
                request.Content.Headers.Remove(name);
                request.Content.Headers.TryAddWithoutValidation(name, value);
            }
            else
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
        }

        using var timeout = new CancellationTokenSource(AnswerTimeout);
        HttpResponseMessage response;
        try
        {
            // Headers first: a 200 event stream never ends, and is judged by its headers alone.
            response = await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Fail(junk, null, "no answer", $"within {AnswerTimeout.TotalSeconds} s");
            return;
        }
        catch (InvalidOperationException e) when (e.Message == "The path contains null characters.")
        {
            _refused++;
            return; // the test host refuses it as Kestrel does, with a 400 before the service sees it
        }
        catch (Exception e)
        {
            Fail(junk, null, "an exception escaped the service (a reset connection to a real client)", $"{e.GetType().Name}: {Junk.Show(e.Message, 200)}");
            return;
        }
        using (response)
        {
            var status = (int)response.StatusCode;
            _statuses[status] = _statuses.GetValueOrDefault(status) + 1;
            var operation = $"{junk.Method} {junk.Aim}";
            // Only a request whose path is the operation's own as it reaches the service (junk in a segment,
            // or a name like "..", which the client resolves away, can make it another route's) is an answer of the operation.
            if (_documented.ContainsKey(operation) && _operations.TryGetValue(operation, out var op) && op.Reaches(uri.AbsolutePath, _realm.IsRef))
            {
                if (!_received.TryGetValue(operation, out var seen))
                    _received[operation] = seen = [];
                seen.Add(status);
                _example.TryAdd((operation, status), junk.ToString());
            }
            var type = response.Content.Headers.ContentType?.MediaType;
            if (type == "text/event-stream")
            {
                if (status != 200)
                    Fail(junk, status, "an event stream", "");
                return;
            }
            string text;
            try
            {
                text = await response.Content.ReadAsStringAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                Fail(junk, status, "a body without end", $"not done within {AnswerTimeout.TotalSeconds} s");
                return;
            }
            if (status >= 500)
                Fail(junk, status, "a server error", $"{type}: {Junk.Show(text, 300)}");
            else if (status >= 400)
                CheckProblem(junk, status, type, text);
            else if (status is >= 200 and < 300 && junk.Method is not ("GET" or "HEAD"))
                await _realm.RepairAsync(Client); // junk that happened to be a valid change may have destroyed what the rest aims at
        }
    }

    private void CheckProblem(JunkRequest junk, int status, string? type, string text)
    {
        if (type != "application/problem+json")
        {
            Fail(junk, status, $"not problem+json but {type ?? "nothing"}", Junk.Show(text, 200));
            return;
        }
        if (junk.Method == "HEAD" && text.Length == 0)
            return; // the problem's headers without its body, as HEAD asks
        try
        {
            var p = JsonDocument.Parse(text).RootElement;
            if ((!p.TryGetProperty("errno", out var errno) || errno.ValueKind != JsonValueKind.String || errno.GetString()!.Length == 0))
                Fail(junk, status, "a problem without errno", Junk.Show(text, 200));
            else if (!p.TryGetProperty("status", out var s) || s.ValueKind != JsonValueKind.Number || s.GetInt32() != status)
                Fail(junk, status, "a problem whose status says otherwise", Junk.Show(text, 200));
        }
        catch (JsonException)
        {
            Fail(junk, status, "problem+json that is not JSON", Junk.Show(text, 200));
        }
    }

    /// <summary>A broken rule, counted by its kind (what came back, to which operation) and shown with the request that broke it.</summary>
    private void Fail(JunkRequest junk, int? status, string what, string detail) =>
        _failures.Add(($"{status} {what} from {junk.Method} {junk.Aim}", $"#{_sent} {junk} -> {status} {what}: {detail}"));

    // ---- the endpoints --------------------------------------------------------------------------

    /// <summary>
    /// Every route the app maps with the methods it takes, and, from the document, its query parameters
    /// and the members of its request body.
    /// </summary>
    private async Task<IReadOnlyList<Operation>> EndpointsAsync()
    {
        var doc = JsonNode.Parse(await Client.GetStringAsync("/swagger/v1/swagger.json"))!;
        var schemas = doc["components"]?["schemas"]?.AsObject();
        var documented = new Dictionary<string, (string[] Query, string[] Members)>();
        foreach (var (path, operations) in doc["paths"]!.AsObject())
            foreach (var (method, operation) in operations!.AsObject())
            {
                var query = (operation!["parameters"]?.AsArray() ?? [])
                    .Where(p => p!["in"]!.GetValue<string>() == "query").Select(p => p!["name"]!.GetValue<string>()).ToArray();
                var members = (operation["requestBody"]?["content"]?.AsObject() ?? [])
                    .SelectMany(c => MemberPaths(c.Value?["schema"], schemas, "", 0)).Distinct().ToArray();
                documented[$"{method.ToUpperInvariant()} {path}"] = (query, members);
                _documented[$"{method.ToUpperInvariant()} {path}"] = (operation["responses"]?.AsObject() ?? []).Select(r => r.Key).ToHashSet();
            }

        var routes = Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>();
        var endpoints = (
            from r in routes
            from method in r.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"]
            let e = new Operation(method, r.RoutePattern, [], [])
            let d = documented.GetValueOrDefault($"{method} {e.Template}", ([], []))
            select e with { Query = d.Query, Members = d.Members })
            .OrderBy(e => e.Template, StringComparer.Ordinal).ThenBy(e => e.Method, StringComparer.Ordinal).ToList();

        foreach (var e in endpoints)
            _operations[$"{e.Method} {e.Template}"] = e;
        // The table and the document agree, so nothing documented escapes the junk.
        Assert.Empty(documented.Keys.Except(endpoints.Select(e => $"{e.Method} {e.Template}")));
        Assert.Contains(endpoints, e => e.Template == "/v1/events");
        Assert.Contains(endpoints, e => e.Members.Contains("params.vlan"));
        return endpoints;
    }

    /// <summary>The members of a body schema, nested ones as <c>outer.inner</c>.</summary>
    private static IEnumerable<string> MemberPaths(JsonNode? schema, JsonObject? schemas, string prefix, int depth)
    {
        if (schema?["$ref"]?.GetValue<string>() is { } reference)
            schema = schemas?[reference.Split('/')[^1]];
        if (depth > 3 || schema?["properties"]?.AsObject() is not { } properties)
            yield break;
        foreach (var (name, property) in properties)
        {
            yield return prefix + name;
            foreach (var inner in MemberPaths(property, schemas, prefix + name + ".", depth + 1))
                yield return inner;
        }
    }

    /// <summary>
    /// A body that gets past the endpoint's own validation with real objects in its path, so that junk
    /// elsewhere in the request reaches the store: the first of a few candidates that is not a 400.
    /// </summary>
    private async Task<string> PlausibleBodyAsync(Operation e)
    {
        if (e.Method is "GET" or "DELETE")
            return "{}";
        foreach (var candidate in new[] { "{}", $$"""{"group":"{{Realm.Group}}"}""", $$"""{"name":"{{_realm.TapCloner}}"}""" })
        {
            using var request = new HttpRequestMessage(new HttpMethod(e.Method), e.Path(_realm.Ref))
            {
                Content = new StringContent(candidate, Encoding.UTF8, "application/json"),
            };
            using var response = await Client.SendAsync(request);
            if (response.StatusCode != HttpStatusCode.BadRequest)
            {
                await _realm.RepairAsync(Client);
                return candidate;
            }
        }
        return "{}";
    }
}

/// <summary>One route and method of the service.</summary>
internal sealed record Operation(string Method, RoutePattern Pattern, string[] Query, string[] Members)
{
    public string Template => "/" + string.Join('/', Pattern.PathSegments.Select(s => string.Concat(s.Parts.Select(p => p switch
    {
        RoutePatternLiteralPart l => l.Content,
        RoutePatternParameterPart v => "{" + v.Name + "}",
        _ => "",
    }))));

    public IReadOnlyList<string> Parameters => Pattern.Parameters.Select(p => p.Name).ToList();

    /// <summary>The path with each parameter replaced by <paramref name="value"/>(name), already %-encoded.</summary>
    /// <summary>Whether <paramref name="path"/> is this route's with every parameter a value <paramref name="real"/> accepts.</summary>
    public bool Reaches(string path, Func<string, bool> real)
    {
        var segments = path.Split('/')[1..];
        return segments.Length == Pattern.PathSegments.Count && Pattern.PathSegments.Zip(segments).All(x => x.First.Parts is [var part] && part switch
        {
            RoutePatternLiteralPart l => l.Content == x.Second,
            RoutePatternParameterPart => real(x.Second),
            _ => false,
        });
    }

    public string Path(Func<string, string> value) =>
        "/" + string.Join('/', Pattern.PathSegments.Select(s => string.Concat(s.Parts.Select(p => p switch
        {
            RoutePatternLiteralPart l => l.Content,
            RoutePatternParameterPart v => value(v.Name),
            _ => "",
        }))));

    public override string ToString() => $"{Method} {Template}";
}

internal sealed record JunkBody(string Label, byte[] Bytes, string? ContentType);

internal sealed record JunkRequest(string Aim, string Method, string Url, IReadOnlyList<(string Name, string Value)> Headers, JunkBody? Body)
{
    public override string ToString()
    {
        var s = new StringBuilder($"{Method} {Junk.Show(Url, 160)}");
        foreach (var (name, value) in Headers)
            s.Append($" [{name}: {Junk.Show(value, 40)}]");
        if (Body is { } b)
            s.Append($" body {b.Label} ({b.Bytes.Length} bytes, {b.ContentType ?? "no type"})");
        return s.ToString();
    }
}

/// <summary>
/// Real objects for junk to be aimed at: a tap in a group and in a bridge, an epair and the bridge,
/// each from a cloner of the tests' own. Junk that happens to be a valid destroy or detach is undone
/// before the next request, so that the rest still has something real to aim at.
/// </summary>
internal sealed class Realm
{
    public const string Group = "fuzzing";

    public string TapId { get; private set; } = "";
    public string EpairId { get; private set; } = "";
    public string EpairPeer { get; private set; } = "";
    public string BridgeId { get; private set; } = "";

    /// <summary>The cloners the real objects come from: the tests' own, so no junk name is theirs.</summary>
    private (string Tap, string Bridge, string Epair) _cloners;

    /// <summary>A cloner of taps that junk does not name, for a create that goes through.</summary>
    public string TapCloner => _cloners.Tap;

    private int _turn;

    public static async Task<Realm> MakeAsync(HttpClient http)
    {
        var realm = new Realm { _cloners = (Http.NewClonerName(), Http.NewClonerName(), Http.NewClonerName()) };
        await realm.RepairAsync(http);
        return realm;
    }

    /// <summary>A real object for a route parameter, by what its name says it is; each call takes the next one.</summary>
    /// <summary>Whether <paramref name="segment"/> is one of the values <see cref="Ref"/> gives (as it appears in a path).</summary>
    public bool IsRef(string segment) =>
        new[] { BridgeId, TapId, EpairId, EpairPeer, "lo0", "em0", _cloners.Tap, "lo", Group, "all", "host" }.Any(v => Uri.EscapeDataString(v) == segment);

    public string Ref(string parameter)
    {
        var turn = _turn++;
        string[] choices = parameter switch
        {
            "member" => [TapId, TapId, EpairId, BridgeId],
            "name" => [_cloners.Tap, "lo"],
            "group" => [Group, "all"],
            "vnet" => ["host"], // the realm's own: /v1/vnets/host/… reaches the same objects
            _ => [TapId, EpairId, BridgeId, EpairPeer, "lo0", "em0"],
        };
        return Uri.EscapeDataString(choices[turn % choices.Length]);
    }

    public async Task RepairAsync(HttpClient http)
    {
        // Junk names include the built-in cloners' (a DELETE of /v1/cloners/tap detaches tap): put back what went.
        var cloners = (await http.GetOk("/v1/cloners")).GetProperty("cloners").EnumerateArray().Select(c => c.Str("name")).ToHashSet();
        foreach (var (name, kind, minIfs) in new[]
                 {
                     ("lo", "loop", 1), ("tap", "tap", 0), ("bridge", "bridge", 0), ("epair", "epair", 0), ("vlan", "vlan", 0),
                     (_cloners.Tap, "tap", 0), (_cloners.Bridge, "bridge", 0), (_cloners.Epair, "epair", 0),
                 })
            if (!cloners.Contains(name))
                await (await http.PostJson("/v1/cloners", $$"""{"name":"{{name}}","kind":"{{kind}}","minIfs":{{minIfs}}}""")).Json(HttpStatusCode.Created);
        TapId = await EnsureAsync(http, TapId, _cloners.Tap);
        BridgeId = await EnsureAsync(http, BridgeId, _cloners.Bridge);
        EpairId = await EnsureAsync(http, EpairId, _cloners.Epair);
        // Junk may have moved one end to another vnet (its peer is then not ours to see): both ends go, and come anew.
        if (!((await http.GetOk($"/v1/interfaces/{EpairId}")).TryGetProperty("peer", out var peer) && peer.ValueKind == JsonValueKind.String))
        {
            Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/v1/interfaces/{EpairId}")).StatusCode);
            EpairId = await EnsureAsync(http, EpairId, _cloners.Epair);
        }
        EpairPeer = (await http.GetOk($"/v1/interfaces/{EpairId}")).Str("peer");
        var tap = await http.GetOk($"/v1/interfaces/{TapId}");
        if (!tap.Strings("groups").Contains(Group))
            Assert.Equal(HttpStatusCode.Created, (await http.PutAsync($"/v1/interfaces/{TapId}/groups/{Group}", null)).StatusCode);
        var members = await http.GetOk($"/v1/interfaces/{BridgeId}/members");
        if (!members.Strings("members").Contains(tap.Str("name")))
            Assert.True((await http.PutAsync($"/v1/interfaces/{BridgeId}/members/{TapId}", null)).IsSuccessStatusCode);
    }

    private static async Task<string> EnsureAsync(HttpClient http, string id, string create)
    {
        if (id.Length > 0 && (await http.GetAsync($"/v1/interfaces/{id}")).IsSuccessStatusCode)
            return id;
        // Junk may have given an interface the cloner's own name, which makes the cloner's create EEXIST
        // (as ifconfig's does): that one is renamed out of the way first.
        if ((await http.GetAsync($"/v1/interfaces/{create}")).IsSuccessStatusCode)
            await (await http.Patch(create, $$"""{"name":"moved{{Guid.NewGuid().ToString("N")[..8]}}"}""")).Json();
        return (await http.CreateOk(create)).Str("id");
    }
}

/// <summary>What a careless, confused or hostile client sends, from one seeded generator.</summary>
internal sealed class Junk(int seed)
{
    private readonly Random _rng = new(seed);

    /// <summary>A string as a failure message can show it: control characters and lone surrogates escaped, long ones cut.</summary>
    public static string Show(string s, int max)
    {
        var shown = new StringBuilder();
        foreach (var c in s.Length > max ? s[..max] : s)
            shown.Append(char.IsControl(c) || char.IsSurrogate(c) ? $"\\u{(int)c:x4}" : c.ToString());
        return s.Length > max ? $"{shown}…({s.Length} chars)" : shown.ToString();
    }

    public T Pick<T>(IReadOnlyList<T> choices) => choices[_rng.Next(choices.Count)];

    public bool Chance(double p) => _rng.NextDouble() < p;

    public byte[] Bytes(int length)
    {
        var b = new byte[length];
        _rng.NextBytes(b);
        return b;
    }

    public Guid Guid() => new(Bytes(16));

    private static readonly string Kb4 = new('a', 4096);
    private static readonly string Mb1 = new('m', 1 << 20);

    /// <summary>Strings no name should be, and some a name could be; all valid UTF-16 (lone surrogates come %-encoded or JSON-escaped).</summary>
    public static readonly string[] Strings =
    [
        "", " ", "\0", "tap\0", "\0tap", "tap\u0001", "\u0007", "\t", "tap\r\n", "\u007f", "\u0085", "\u00a0",
        "e\u0301", "tap\u0301\u0302\u0303", "\u202etap", "\u200ftap\u200e", "\u200b", "\ufeff", "\ufffe", "\uffff",
        "שלום", "مرحبا", "😀", "tap😀", "👨‍👩‍👧‍👦", "ｔａｐ", "ta\u0308p", "İ", "ß",
        Kb4, "tap" + new string('9', 4093), string.Concat(Enumerable.Repeat("😀", 1024)),
        "tap99999999999999999999", "tap2147483648", "tap-1", "tap07", "tap0x1", "tap+1", "TAP", "tap ", " tap",
        "..", ".", "...", "~", "all", "lo0", "em0", "tap0.100", "tap0.0", "tap0.4095", "tap0.99999999999", "em0.100", "lo0.1",
        "epair", "epair0a", "bridge", "vlan", "tap", "lo", "null", "{}", "[]", "'", "\"", "\\", "%", "?", "#", "&", "=", "*", ";", ":",
        "'; DROP TABLE interfaces;--", "$(reboot)", "<script>", "../../etc/passwd",
        "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "{6f9619ff-8b86-d011-b42d-00cf4fc964ff}", "6F9619FF-8B86-D011-B42D-00CF4FC964FF", "6f9619ff8b86d011b42d00cf4fc964ff",
        "6f9619ff-8b86-d011-b42d-00cf4fc964f", "6f9619ff-8b86-d011-b42d-00cf4fc964fg",
    ];

    /// <summary>JSON values for a request member: every string above, and values of every other type and range.</summary>
    public static readonly string[] Values =
    [
        .. Strings.Select(s => JsonSerializer.Serialize(s)),
        "null", "true", "0", "-1", "71", "72", "4094", "4095", "32767", "32768", "65535", "65536", "2147483648", "-2147483649",
        "1e999", "1.5", "[]", "{}", "[\"up\"]", "[\"running\",\"loopback\"]", "{\"vlan\":5}",
        "\"\\ud800\"", "\"tap\\udc00\"", "\"\\u0000\"", "\"loop\"",
        "\"f2:0b:a4:00:00:01\"", "\"ff:ff:ff:ff:ff:ff\"", "\"01:00:5e:00:00:01\"", "\"00:00:00:00:00:00\"", "\"f2-0b-a4-00-00-01\"",
    ];

    /// <summary>Path segments already %-encoded as they go on the wire: each string above, and byte sequences no string is.</summary>
    public static readonly string[] Segments =
    [
        .. Strings.Where(s => s.Length > 0).Select(Uri.EscapeDataString),
        "%00", "tap%00", "%2F", "a%2Fb", "%2F..%2F", "..", "%2e%2e", ".%2e", "%252F", "%FF", "%C0%AF", "%C0%80",
        "%ED%A0%80", "%ED%B0%80", "tap%ED%A0%80", "%F0%9F%98", "%F4%90%80%80", "%", "%z", "%%", "%u0041", "tap%20",
        "%E2%80%AE", "%CC%81", "%EF%BF%BF", "a;b", "a,b", "%0D%0A", "%09", "tap%23x", "tap%3Fx", "+", "%2B",
    ];

    private static string B64(string s) => B64(Encoding.UTF8.GetBytes(s));

    private static string B64(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static readonly string[] Counts =
    [
        "-1", "abc", "99999999999999999999", "", "0", "1001", "1e3", "0x10", "%205", "5%20", "%D9%A1%D9%A2", "+5", "2147483648",
        "-2147483649", "1.5", "NaN", "%00", "1%00", "1&limit=2", "null", new string('9', 4096),
    ];

    private static readonly string[] Cursors =
    [
        "garbage", "", "=", "====", "aTE6", B64("i1:-1"), B64("i1:99999999999999"), B64("i1:" + new string('9', 4096)),
        B64("i2:1"), B64("i1: 1"), B64("i1:1\0"), B64("i1:٣"), B64([0xff, 0xfe, 0x00, 0x80]), Convert.ToBase64String(Encoding.UTF8.GetBytes("i1:1?>")),
        "aTE6MQ%3D%3D", "aTE6MQ", "%00", new string('A', 4096), "a%2Bb%2F", "%FF%FE", B64(new string('\0', 64)),
    ];

    /// <summary>Bad values for a query parameter: counts for counts, cursors for cursors, names for the rest.</summary>
    public static IReadOnlyList<string> QueryValues(string name) => name switch
    {
        "limit" => Counts,
        "after" => [.. Cursors, .. Counts],
        _ => Segments,
    };

    private static readonly string LongKey = new('k', 4096);

    /// <summary>Headers of the wrong shape; the service reads If-Match, Idempotency-Key and Last-Event-ID.</summary>
    public static readonly (string Name, string Value)[] Headers =
    [
        .. new[]
        {
            "", "junk", "\"", "\"\"", "\"1\"", "W/\"1\"", "*", "\"1\", *", "\"99999999999999999999\"", "\"-1\"", "\"1\"junk",
            new string('"', 4096), "\"" + Kb4 + "\"", "\u00e9", "\"a\0b\"", "\"1\",,,,\"2\"", "*, *", "W/*",
        }.Select(v => ("If-Match", v)),
        .. new[] { LongKey, "k\u0001k", "k\0", "", " ", "ключ", "k\tk", new string('k', 256), "\u007f", "k k", "😀" }
            .Select(v => ("Idempotency-Key", v)),
        .. new[]
        {
            "junk", "-1", "99999999999999999999", "1.5", "", " 1", "0x10", "1e3", "٣", new string('9', 4096),
            "9223372036854775807", "9223372036854775808", "0", "\0",
        }.Select(v => ("Last-Event-ID", v)),
        .. new[]
        {
            "text/plain", "application/xml", "application/merge-patch+json", "application/octet-stream", "multipart/form-data; boundary=x",
            "application/json; charset=utf-16", "application/json; charset=bogus", "junk", "application/x-www-form-urlencoded", "*/*", "",
        }.Select(v => ("Content-Type", v)),
        ("Content-Encoding", "gzip"), ("Content-Encoding", "junk"),
        ("Accept", "application/xml"), ("Accept", "text/event-stream"), ("Accept", "*/*;q=junk"), ("Accept", "junk"),
        ("Authorization", "Bearer \0"), ("Authorization", "junk"), ("X-HTTP-Method-Override", "DELETE"), ("Range", "bytes=junk"),
        ("If-None-Match", "junk"), ("If-Modified-Since", "junk"), ("Expect", "100-continue"), ("Accept-Charset", "utf-7"),
    ];

    public static readonly string[] Methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "BREW", "get", "PROPFIND"];

    /// <summary>The member names the document gives any request or response, and some it does not.</summary>
    private static readonly string[] Members =
    [
        "name", "params", "vlan", "parent", "lladdr", "description", "mtu", "metric", "up", "flags", "group", "kind", "maxUnit", "noGroup",
        "minIfs", "id", "index", "version", "members", "", "NAME", "name\0", "__proto__", "$type",
    ];

    /// <summary>A JSON value of any type, wrong for nearly every member.</summary>
    private string Value(int depth)
    {
        switch (_rng.Next(depth > 2 ? 5 : 8))
        {
            case 0: return Pick(["null", "true", "false"]);
            case 1:
                return Pick(["0", "-1", "72", "71", "65535", "65536", "2147483647", "2147483648", "-2147483649", "9223372036854775808",
                    "1e999", "-0", "1.5", "1E2", "123456789012345678901234567890"]);
            case 2: return JsonSerializer.Serialize(Pick(Strings));
            case 3: return Pick(["\"\\ud800\"", "\"tap\\udc00\"", "\"\\u0000\"", "\"f2:0b:a4:00:00:01\"", "\"ff:ff:ff:ff:ff:ff\"", "\"01:00:5e:00:00:01\"",
                "\"00:00:00:00:00:00\"", "\"up\"", "\"running\"", "\"" + Kb4 + "\""]);
            case 4: return JsonSerializer.Serialize(Pick(Strings) + Pick(Strings));
            case 5: return "[" + string.Join(',', Enumerable.Range(0, _rng.Next(4)).Select(_ => Value(depth + 1))) + "]";
            case 6: return Object(depth + 1);
            default: return Pick(["[\"up\"]", "[\"up\",\"up\"]", "[\"running\",\"loopback\"]", "[1]", "[null]", "[[]]", "{\"vlan\":5,\"parent\":\"tap0\"}"]);
        }
    }

    private string Object(int depth) =>
        "{" + string.Join(',', Enumerable.Range(0, _rng.Next(1, 4)).Select(_ => JsonSerializer.Serialize(Pick(Members)) + ":" + Value(depth))) + "}";

    private static JunkBody Text(string label, string text, string? type = "application/json") => new(label, Encoding.UTF8.GetBytes(text), type);

    private static JunkBody Raw(string label, byte[] bytes, string? type = "application/json") => new(label, bytes, type);

    /// <summary>Bodies of every wrong JSON type and size, broken JSON, and things that are not JSON at all.</summary>
    public static readonly Func<Junk, JunkBody>[] Bodies =
    [
        _ => Raw("empty", [], null),
        _ => Raw("empty json", []),
        _ => Text("null", "null"),
        _ => Text("number", "0"),
        _ => Text("negative", "-1"),
        _ => Text("huge number", "123456789012345678901234567890"),
        _ => Text("infinite number", "1e999"),
        _ => Text("true", "true"),
        _ => Text("string", "\"tap\""),
        _ => Text("empty array", "[]"),
        _ => Text("array", "[1,\"a\",null,{},[]]"),
        _ => Text("array of objects", "[{\"name\":\"tap\"}]"),
        _ => Text("empty object", "{}"),
        _ => Text("deep arrays", new string('[', 100) + new string(']', 100)),
        _ => Text("deep objects", string.Concat(Enumerable.Repeat("{\"name\":", 100)) + "1" + new string('}', 100)),
        _ => Text("very deep arrays", new string('[', 100_000) + new string(']', 100_000)),
        _ => Text("4 KB string", JsonSerializer.Serialize(Kb4)),
        _ => Text("1 MB string", JsonSerializer.Serialize(Mb1)),
        _ => Text("1 MB name", $"{{\"name\":\"{Mb1}\",\"group\":\"{Mb1}\",\"description\":\"{Mb1}\"}}"),
        _ => Text("1 MB not JSON", Mb1),
        _ => Text("truncated {", "{"),
        _ => Text("truncated member", "{\"name\":"),
        _ => Text("truncated string", "{\"name\":\"ta"),
        _ => Text("truncated object", "{\"name\":\"tap\""),
        _ => Text("truncated array", "[1,"),
        _ => Raw("invalid UTF-8", [.. "{\"name\":\""u8, 0xff, 0xfe, .. "\",\"group\":\""u8, 0xc0, 0xaf, .. "\"}"u8]),
        _ => Raw("encoded surrogate", [.. "{\"name\":\"tap"u8, 0xed, 0xa0, 0x80, .. "\",\"description\":\""u8, 0xed, 0xb0, 0x80, .. "\"}"u8]),
        _ => Text("escaped lone surrogates", "{\"name\":\"\\ud800\",\"group\":\"x\\udc00\",\"description\":\"\\ud800\",\"lladdr\":\"\\udfff\"}"),
        _ => Text("escaped NUL", "{\"name\":\"tap\\u0000\",\"group\":\"a\\u0000b\",\"description\":\"\\u0000\",\"kind\":\"tap\\u0000\"}"),
        _ => Raw("raw NUL", [.. "{\"name\":\"tap"u8, 0, .. "\"}"u8]),
        _ => Raw("BOM", [0xef, 0xbb, 0xbf, .. "{}"u8]),
        _ => Raw("UTF-16", Encoding.Unicode.GetBytes("{\"name\":\"tap\"}"), "application/json; charset=utf-16"),
        _ => Text("duplicate members", "{\"name\":\"tap\",\"name\":\"epair\",\"group\":\"a\",\"group\":\"b\"}"),
        _ => Text("trailing comma and comment", "{\"name\":\"tap\",/* x */}"),
        _ => Text("single quotes", "{'name':'tap'}"),
        _ => Text("form", "name=tap&group=x", "application/x-www-form-urlencoded"),
        _ => Text("multipart", "--x\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\ntap\r\n--x--\r\n", "multipart/form-data; boundary=x"),
        _ => Text("xml", "<name>tap</name>", "application/xml"),
        _ => Text("text", "tap", "text/plain"),
        _ => Text("merge patch", "{\"mtu\":\"1500\",\"up\":\"yes\"}", "application/merge-patch+json"),
        j => Raw("random bytes", j.Bytes(64), "application/octet-stream"),
        j => Raw("random bytes as JSON", j.Bytes(64)),
        j => Raw("13-byte frame", j.Bytes(13), "application/octet-stream"),
        j => Raw("14-byte frame", j.Bytes(14), "application/octet-stream"),
        j => Raw("70000-byte frame", j.Bytes(70_000), "application/octet-stream"),
        j => Text("random object", j.Object(0)),
        j => Text("random object", j.Object(0), "application/merge-patch+json"),
        j => Text("random value", j.Value(0)),
        j => Text("name of junk", $"{{\"name\":{JsonSerializer.Serialize(j.Pick(Strings))}}}"),
        j => Text("group of junk", $"{{\"group\":{JsonSerializer.Serialize(j.Pick(Strings))}}}"),
        j => Text("cloner of junk", $"{{\"name\":{JsonSerializer.Serialize(j.Pick(Strings))},\"kind\":{j.Value(0)},\"maxUnit\":{j.Value(3)},\"minIfs\":{j.Value(3)}}}"),
        j => Text("params of junk", $"{{\"name\":{JsonSerializer.Serialize(j.Pick(["tap", "vlan", "epair", "bridge", "tap0.5"]))},\"params\":{j.Object(1)}}}"),
        j => Text("id of nothing", $"{{\"name\":\"{j.Guid()}\"}}"),
    ];
}
