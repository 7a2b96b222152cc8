using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace IfApi.Tests;

public sealed class SqliteVnetIsolationTests(SqliteStore store, ITestOutputHelper output) : VnetIsolationTests<SqliteStore>(store, output);

public sealed class PostgresVnetIsolationTests(PostgresStore store, ITestOutputHelper output) : VnetIsolationTests<PostgresStore>(store, output);

/// <summary>
/// A key bound to a vnet never learns anything of another (SPEC §6, <c>prison_find_child</c>): random
/// operations, drawn from a seed, through keys bound to three vnets and a host key at once, and every
/// answer, header, event and error detail a bound key gets is searched for what only the others know:
/// their vnets' names, their interfaces' ids and names, their groups.
/// </summary>
public abstract class VnetIsolationTests<TStore> : IClassFixture<TStore>, IAsyncLifetime where TStore : StoreFixture
{
    private const int OperationsPerKey = 80;
    private static readonly string[] Tenants = VnetTests<TStore>.Bound;

    private readonly ITestOutputHelper _output;
    private readonly IfApiFactory _factory;
    private readonly int _seed = int.TryParse(Environment.GetEnvironmentVariable("IFAPI_TEST_ISOLATION_SEED"), out var s) ? s : 20261206;

    // What each vnet's own objects are called: every id, every name given, every group; the host's too.
    private readonly ConcurrentDictionary<string, ConcurrentBag<string>> _known = new();

    protected VnetIsolationTests(TStore store, ITestOutputHelper output)
    {
        _output = output;
        _factory = store.NewFactory(VnetTests<TStore>.Keys);
    }

    /// <summary>Where the host key moves interfaces to: a vnet no key is bound to.</summary>
    private const string Away = "delta";

    public async Task InitializeAsync()
    {
        using var root = Client(VnetTests<TStore>.RootSecret);
        foreach (var v in Tenants.Append(Away))
        {
            var r = await root.PostAsJsonAsync("/v1/vnets", new { name = v });
            Assert.True(r.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict, await r.Content.ReadAsStringAsync());
        }
    }

    public async Task DisposeAsync() => await _factory.DisposeAsync();

    private HttpClient Client(string secret)
    {
        var c = _factory.CreateClient();
        c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        return c;
    }

    private void Know(string vnet, string token) => _known.GetOrAdd(vnet, _ => []).Add(token);

    [Fact]
    public async Task A_bound_key_never_learns_anything_of_another_vnet()
    {
        // Every vnet's distinct words: its name, and what it names its objects (names carry the vnet's).
        var all = Tenants.Append("host").ToArray();
        foreach (var v in all)
            Know(v, v);
        var answers = new ConcurrentBag<(string Vnet, string Request, string Text)>();
        var everyId = new ConcurrentBag<string>(); // ids of every vnet, for the bound keys to try

        async Task ActAsync(string vnet, string secret, int seed)
        {
            var random = new Random(seed);
            using var http = Client(secret);
            var mine = new List<string>(); // names of this vnet's interfaces (plain paths reach them)
            var tag = vnet == "host" ? "hst" : vnet[..3];
            for (var i = 0; i < OperationsPerKey; i++)
            {
                var others = all.Where(o => o != vnet).ToArray();
                var pick = mine.Count > 0 ? mine[random.Next(mine.Count)] : "lo0";
                var foreignId = everyId.Skip(random.Next(Math.Max(1, everyId.Count))).FirstOrDefault() ?? Guid.NewGuid().ToString();
                // A bound key names any other vnet (and is refused); the host key moves only to one nobody is bound
                // to: what it moved into a tenant's vnet would be that tenant's to see.
                var other = vnet == "host" ? Away : others[random.Next(others.Length)];
                (HttpMethod Method, string Path, string? Body) op = random.Next(16) switch
                {
                    0 or 1 => (HttpMethod.Post, "/v1/interfaces", $$"""{"name":"{{new[] { "tap", "bridge", "epair" }[random.Next(3)]}}"}"""),
                    2 => (HttpMethod.Patch, $"/v1/interfaces/{pick}", $$"""{"name":"{{tag}}n{{i}}"}"""),
                    3 => (HttpMethod.Put, $"/v1/interfaces/{pick}/groups/{tag}grp{random.Next(3)}x", null),
                    4 => (HttpMethod.Delete, $"/v1/interfaces/{pick}/groups/{tag}grp{random.Next(3)}x", null),
                    5 => (HttpMethod.Delete, $"/v1/interfaces/{pick}", null),
                    6 => (HttpMethod.Get, "/v1/interfaces?limit=1000", null),
                    7 => (HttpMethod.Get, "/v1/groups", null),
                    8 => (HttpMethod.Get, $"/v1/interfaces/{foreignId}", null), // another's id: not found, never shown
                    9 => (HttpMethod.Get, $"/v1/vnets/{other}/interfaces", null),
                    10 => (HttpMethod.Get, "/v1/vnets", null),
                    11 => (HttpMethod.Patch, $"/v1/interfaces/{pick}", $$"""{"vnet":"{{other}}"}"""),
                    12 => (HttpMethod.Put, $"/v1/interfaces/{pick}/members/{foreignId}", null),
                    13 => (HttpMethod.Get, "/v1/cloners", null),
                    14 => (HttpMethod.Post, "/v1/transactions", $$$"""{"operations":[{"method":"POST","path":"/v1/interfaces","body":{"name":"tap"}},{"method":"GET","path":"/v1/interfaces/{{{foreignId}}}"}]}"""),
                    _ => (HttpMethod.Get, $"/v1/interfaces/{pick}", null),
                };
                using var request = new HttpRequestMessage(op.Method, op.Path);
                if (op.Body is not null)
                    request.Content = new StringContent(op.Body, Encoding.UTF8, "application/json");
                using var response = await http.SendAsync(request);
                var text = await response.Content.ReadAsStringAsync();
                Assert.True((int)response.StatusCode < 500, $"{op.Method} {op.Path}: {(int)response.StatusCode} {text}");
                var headers = string.Join("\n", response.Headers.Concat(response.Content.Headers).Select(h => $"{h.Key}: {string.Join(",", h.Value)}"));
                answers.Add((vnet, $"{op.Method} {op.Path} {op.Body}", text + "\n" + headers));
                // What this vnet now has, from its own list.
                if (response.IsSuccessStatusCode && op.Method != HttpMethod.Get || i % 8 == 0)
                {
                    var list = await http.GetOk("/v1/interfaces?limit=1000");
                    mine = list.GetProperty("items").EnumerateArray().Select(x => x.Str("name")).ToList();
                    foreach (var x in list.GetProperty("items").EnumerateArray())
                    {
                        Know(vnet, x.Str("id"));
                        everyId.Add(x.Str("id"));
                        if (x.Str("name").StartsWith(tag, StringComparison.Ordinal))
                            Know(vnet, x.Str("name"));
                        foreach (var g in x.Strings("groups").Where(g => g.StartsWith(tag, StringComparison.Ordinal)))
                            Know(vnet, g);
                    }
                }
            }
        }

        await Task.WhenAll(Tenants.Select((v, n) => ActAsync(v, VnetTests<TStore>.Secret(v), _seed + n))
            .Append(ActAsync("host", VnetTests<TStore>.RootSecret, _seed + 99)));

        // Each bound key's whole event stream, from the oldest kept.
        foreach (var v in Tenants)
        {
            using var http = Client(VnetTests<TStore>.Secret(v));
            answers.Add((v, "GET /v1/events?after=0", await ReadStreamAsync(http, "/v1/events?after=0")));
        }

        var leaks = new List<string>();
        foreach (var (vnet, request, text) in answers.Where(a => a.Vnet != "host"))
        {
            foreach (var (owner, words) in _known.Where(k => k.Key != vnet))
            {
                // Words this vnet also has (a name reused after a move never happens here: keys cannot move) are not leaks.
                var ownWords = _known.GetValueOrDefault(vnet) ?? [];
                foreach (var word in words.Distinct().Where(w => !ownWords.Contains(w) && !request.Contains(w, StringComparison.Ordinal)))
                    if (text.Contains(word, StringComparison.Ordinal))
                        leaks.Add($"{vnet} learned '{word}' of {owner} from {request}: {text[..Math.Min(400, text.Length)]}");
            }
        }
        _output.WriteLine($"seed {_seed}: {answers.Count} answers checked, words known per vnet: "
            + string.Join(", ", _known.Select(k => $"{k.Key} {k.Value.Distinct().Count()}")));
        Assert.True(leaks.Count == 0, string.Join("\n", leaks.Take(20)));
        Assert.All(Tenants, v => Assert.True(_known[v].Distinct().Count() > 5, $"{v} made too little to test"));
    }

    private static async Task<string> ReadStreamAsync(HttpClient http, string path)
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var text = new StringBuilder();
        try
        {
            using var response = await http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, stop.Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(stop.Token));
            while (await reader.ReadLineAsync(stop.Token) is { } line)
                text.AppendLine(line);
        }
        catch (OperationCanceledException)
        {
        }
        Assert.Contains("interface-arrival", text.ToString());
        return text.ToString();
    }
}
