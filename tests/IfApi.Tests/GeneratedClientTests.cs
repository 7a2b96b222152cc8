using IfApi.Client;
using IfApi.Client.Models;
using Microsoft.Kiota.Abstractions;
using Microsoft.Kiota.Abstractions.Authentication;
using Microsoft.Kiota.Abstractions.Serialization;
using Microsoft.Kiota.Http.HttpClientLibrary;
using Microsoft.Kiota.Http.HttpClientLibrary.Middleware.Options;

namespace IfApi.Tests;

public sealed class SqliteGeneratedClientTests(SqliteStore store) : GeneratedClientTests<SqliteStore>(store);

public sealed class PostgresGeneratedClientTests(PostgresStore store) : GeneratedClientTests<PostgresStore>(store);

/// <summary>
/// The service driven only through the C# client Kiota generates from openapi/v1.json
/// (src/IfApi.Client), as an SDK user or an IaC provider built on it would: no hand-written request,
/// header handler or JSON. Headers are read and sent with Kiota's own options.
/// </summary>
public abstract class GeneratedClientTests<TStore> : IClassFixture<TStore>, IDisposable where TStore : StoreFixture
{
    private readonly IfApiFactory _factory;
    private readonly HttpClient _http;
    private readonly IfApiClient _client;

    protected GeneratedClientTests(TStore store)
    {
        _factory = store.NewFactory();
        // Kiota's own handlers (headers inspection, retries, redirects) in front of the test server.
        _http = KiotaClientFactory.Create(finalHandler: _factory.Server.CreateHandler());
        _client = new IfApiClient(new HttpClientRequestAdapter(new AnonymousAuthenticationProvider(), httpClient: _http) { BaseUrl = "http://localhost" });
    }

    public void Dispose()
    {
        _http.Dispose();
        _factory.Dispose();
        GC.SuppressFinalize(this);
    }

    private async Task<string> ClonerAsync(string kind = "tap")
    {
        var name = Http.NewClonerName();
        await _client.V1.Cloners.PostAsync(new AttachClonerRequest { Name = name, Kind = kind });
        return name;
    }

    [Fact]
    public async Task A_declared_create_reads_back_with_its_etag_and_a_patch_honours_if_match()
    {
        var cloner = await ClonerAsync();
        var headers = new HeadersInspectionHandlerOption { InspectResponseHeaders = true };
        var created = await _client.V1.Interfaces.PostAsync(
            new CreateInterfaceRequest { Cloner = cloner, Name = "gen" + cloner[..5], Mtu = 9000, Description = "sdk", Up = true, Groups = ["sdk"] },
            c => c.Options.Add(headers));
        Assert.NotNull(created);
        Assert.Equal((cloner, "gen" + cloner[..5], 9000, "sdk", true), (created.Cloner, created.Name, created.Mtu, created.Description, created.Up));
        Assert.Contains("sdk", created.Groups!);
        var etag = headers.ResponseHeaders["ETag"].Single();
        Assert.Equal($"\"{created.Version}\"", etag);

        var patched = await _client.V1.Interfaces[created.Name].PatchAsync(new PatchInterfaceRequest { Mtu = 1400 }, c => c.Headers.Add("If-Match", etag));
        Assert.Equal(1400, patched!.Mtu);
        var refused = await Assert.ThrowsAsync<ProblemDetails>(() =>
            _client.V1.Interfaces[created.Name].PatchAsync(new PatchInterfaceRequest { Mtu = 1300 }, c => c.Headers.Add("If-Match", etag)));
        Assert.Equal((412, ProblemDetails_errno.ESTALE), (refused.ResponseStatusCode, refused.Errno));
        Assert.Equal(1400, (await _client.V1.Interfaces[created.Name].GetAsync())!.Mtu);
    }

    [Fact]
    public async Task Refusals_are_typed_problems_with_their_errno()
    {
        var bad = await Assert.ThrowsAsync<ProblemDetails>(() => _client.V1.Interfaces.PostAsync(new CreateInterfaceRequest { Name = "tap07" }));
        Assert.Equal((400, ProblemDetails_errno.EINVAL, "SIOCIFCREATE2"), (bad.ResponseStatusCode, bad.Errno, bad.Ioctl));
        var missing = await Assert.ThrowsAsync<ProblemDetails>(() => _client.V1.Interfaces["nosuch0"].GetAsync());
        Assert.Equal((404, ProblemDetails_errno.ENXIO), (missing.ResponseStatusCode, missing.Errno));
        var lo = await Assert.ThrowsAsync<ProblemDetails>(() => _client.V1.Interfaces["lo0"].DeleteAsync());
        Assert.Equal((400, ProblemDetails_errno.EINVAL), (lo.ResponseStatusCode, lo.Errno));
    }

    [Fact]
    public async Task Groups_bridge_members_and_pages()
    {
        var cloner = await ClonerAsync();
        var bridges = await ClonerAsync("bridge");
        var bridge = (await _client.V1.Interfaces.PostAsync(new CreateInterfaceRequest { Cloner = bridges }))!.Name!;
        var taps = new List<string>();
        for (var i = 0; i < 5; i++)
            taps.Add((await _client.V1.Interfaces.PostAsync(new CreateInterfaceRequest { Cloner = cloner }))!.Name!);

        await _client.V1.Interfaces[taps[0]].Groups["sdkg"].PutAsync();
        Assert.Equal(["all", "sdkg", cloner], (await _client.V1.Interfaces[taps[0]].Groups.GetAsync())!.Groups!);
        Assert.Equal([taps[0]], (await _client.V1.Groups["sdkg"].GetAsync())!.Members!);
        await _client.V1.Interfaces[taps[0]].Groups["sdkg"].DeleteAsync();

        await _client.V1.Interfaces[bridge].Members[taps[0]].PutAsync();
        await _client.V1.Interfaces[bridge].Members[taps[1]].PutAsync();
        Assert.Equal(taps[..2], (await _client.V1.Interfaces[bridge].Members.GetAsync())!.Members!);
        var busy = await Assert.ThrowsAsync<ProblemDetails>(() => _client.V1.Interfaces[taps[3]].Members[taps[0]].PutAsync());
        Assert.Equal(ProblemDetails_errno.EOPNOTSUPP, busy.Errno); // a tap is not a bridge

        var seen = new List<string>();
        string? after = null;
        do
        {
            var page = await _client.V1.Interfaces.GetAsync(c => (c.QueryParameters.Cloner, c.QueryParameters.Limit, c.QueryParameters.After) = (cloner, 2, after));
            seen.AddRange(page!.Items!.Select(i => i.Name!));
            after = page.Next;
        }
        while (after is not null);
        Assert.Equal(taps, seen);
    }

    [Fact]
    public async Task Upsert_dry_run_and_a_transaction()
    {
        var cloner = await ClonerAsync();
        var name = cloner + "4";
        var headers = new HeadersInspectionHandlerOption { InspectResponseHeaders = true };
        var made = await _client.V1.Interfaces[name].PutAsync(new CreateInterfaceRequest { Mtu = 1400 }, c =>
        {
            c.Headers.Add("If-None-Match", "*");
            c.Options.Add(headers);
        });
        Assert.Equal((name, 4, 1400), (made!.Name, made.Unit, made.Mtu));
        Assert.True(headers.ResponseHeaders.ContainsKey("Location")); // 201: created
        var replaced = await _client.V1.Interfaces[name].PutAsync(new CreateInterfaceRequest { Description = "again" });
        Assert.Equal((1500, "again"), (replaced!.Mtu, replaced.Description));
        var createOnly = await Assert.ThrowsAsync<ProblemDetails>(() =>
            _client.V1.Interfaces[name].PutAsync(new CreateInterfaceRequest(), c => c.Headers.Add("If-None-Match", "*")));
        Assert.Equal((412, ProblemDetails_errno.ESTALE), (createOnly.ResponseStatusCode, createOnly.Errno));

        var dry = await _client.V1.Interfaces.PostAsync(new CreateInterfaceRequest { Cloner = cloner }, c => c.QueryParameters.DryRun = true);
        Assert.Equal(cloner + "0", dry!.Name);
        Assert.Equal(ProblemDetails_errno.ENXIO, (await Assert.ThrowsAsync<ProblemDetails>(() => _client.V1.Interfaces[dry.Name!].GetAsync())).Errno);

        var answer = await _client.V1.Transactions.PostAsync(new TransactionRequest
        {
            Operations =
            [
                new TransactionOperation { Method = "POST", Path = "/v1/interfaces", Body = Object(("cloner", cloner), ("description", "in a transaction")) },
                new TransactionOperation { Method = "PATCH", Path = $"/v1/interfaces/{cloner}0", Body = Object(("mtu", 9000)) },
                new TransactionOperation { Method = "PUT", Path = $"/v1/interfaces/{cloner}0/groups/sdkt" },
            ],
        });
        Assert.Equal([201, 200, 201], answer!.Results!.Select(r => r.Status!.Value));
        Assert.False(answer.DryRun);
        var after = await _client.V1.Interfaces[cloner + "0"].GetAsync();
        Assert.Equal((9000, "in a transaction"), (after!.Mtu, after.Description));

        var failed = await Assert.ThrowsAsync<ProblemDetails>(() => _client.V1.Transactions.PostAsync(new TransactionRequest
        {
            Operations =
            [
                new TransactionOperation { Method = "POST", Path = "/v1/interfaces", Body = Object(("cloner", cloner)) },
                new TransactionOperation { Method = "POST", Path = "/v1/interfaces", Body = Object(("name", cloner + "0")) },
            ],
        }));
        Assert.Equal((409, ProblemDetails_errno.EEXIST, 1), (failed.ResponseStatusCode, failed.Errno, failed.Operation));
        Assert.Equal(ProblemDetails_errno.ENXIO, (await Assert.ThrowsAsync<ProblemDetails>(() => _client.V1.Interfaces[cloner + "1"].GetAsync())).Errno);
    }

    /// <summary>A JSON object for an operation's body, as Kiota carries untyped JSON.</summary>
    private static UntypedObject Object(params (string Name, object Value)[] members) =>
        new(members.ToDictionary(m => m.Name, m => m.Value switch
        {
            string s => (UntypedNode)new UntypedString(s),
            int i => new UntypedInteger(i),
            _ => throw new ArgumentException(m.Value.GetType().Name),
        }));
}
