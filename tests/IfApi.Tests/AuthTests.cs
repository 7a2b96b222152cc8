using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using IfApi.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace IfApi.Tests;

/// <summary>API keys and their scopes, the service's <c>priv_check</c> (SPEC §2 Configuration).</summary>
public sealed class AuthTests : IClassFixture<SqliteStore>, IDisposable
{
    internal const string ReaderSecret = "reader-secret-0123456789";
    internal const string WriterSecret = "writer-secret-0123456789";
    internal const string AdminSecret = "admin-secret-0123456789";
    internal const string TapSecret = "tap-secret-0123456789abc";

    internal static readonly (string, string)[] Keys =
    [
        ("Auth:Keys:reader:Secret", ReaderSecret), ("Auth:Keys:reader:Scopes", "read"),
        ("Auth:Keys:ci:Secret", WriterSecret), ("Auth:Keys:ci:Scopes", "read write"),
        ("Auth:Keys:ops:Secret", AdminSecret), ("Auth:Keys:ops:Scopes", "read admin"),
        ("Auth:Keys:v86:Secret", TapSecret), ("Auth:Keys:v86:Scopes", "tap"),
        ("Logging:LogLevel:Default", "Information"),
        ("Logging:LogLevel:Microsoft.AspNetCore", "Information"), // as an operator might: no secret may show all the same
    ];

    private readonly IfApiFactory _factory;
    private readonly CapturedLogs _logs = new();

    public AuthTests(SqliteStore store)
    {
        _factory = new IfApiFactory(store.Provider, store.ConnectionString, Keys) { Logs = _logs };
    }

    public void Dispose() => _factory.Dispose();

    private HttpClient Client(string? secret)
    {
        var c = _factory.CreateClient();
        if (secret is not null)
            c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        return c;
    }

    [Fact]
    public async Task No_key_is_401_ENEEDAUTH_and_an_unknown_key_401_EAUTH_with_a_Bearer_challenge()
    {
        var none = await Client(null).GetAsync("/v1/interfaces");
        await none.Problem(HttpStatusCode.Unauthorized, "ENEEDAUTH");
        Assert.Equal("Bearer", none.Headers.WwwAuthenticate.Single().Scheme);

        var unknown = await Client("not-a-key-of-ours-at-all").GetAsync("/v1/interfaces");
        await unknown.Problem(HttpStatusCode.Unauthorized, "EAUTH");
        Assert.Contains("invalid_token", unknown.Headers.WwwAuthenticate.Single().Parameter);

        // A secret that is a prefix of a real one, and one with a byte more, are not it.
        await (await Client(WriterSecret[..^1]).GetAsync("/v1/interfaces")).Problem(HttpStatusCode.Unauthorized, "EAUTH");
        await (await Client(WriterSecret + "x").GetAsync("/v1/interfaces")).Problem(HttpStatusCode.Unauthorized, "EAUTH");

        // Another scheme is no key of ours either.
        var basic = _factory.CreateClient();
        basic.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", "dXNlcjpwYXNz");
        await (await basic.GetAsync("/v1/interfaces")).Problem(HttpStatusCode.Unauthorized, "EAUTH");
    }

    [Fact]
    public async Task Junk_credentials_are_401_problems_never_a_5xx()
    {
        var junk = new[] { "Bearer", "Bearer ", "bearer", "Bearer  " + WriterSecret + " ", "Bearer " + new string('k', 64 * 1024),
            "Bearer é\u0000ß", "Token " + WriterSecret, WriterSecret, "Bearer\t" + WriterSecret, "Bearer " + WriterSecret + "," + ReaderSecret };
        foreach (var value in junk)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, "/v1/interfaces");
            request.Headers.TryAddWithoutValidation("Authorization", value);
            var r = await _factory.CreateClient().SendAsync(request);
            Assert.True((int)r.StatusCode is 401 or 200, $"{value[..Math.Min(value.Length, 40)]}: {(int)r.StatusCode}");
            if (r.StatusCode == HttpStatusCode.Unauthorized)
                Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
        }
        foreach (var token in new[] { "", new string('t', 16 * 1024), "%00", "%C3%28", Uri.EscapeDataString(WriterSecret + "\u0000") })
        {
            var r = await _factory.CreateClient().GetAsync($"/v1/interfaces?access_token={token}");
            await r.Problem(HttpStatusCode.Unauthorized, null);
        }
    }

    [Fact]
    public async Task Health_needs_no_key()
    {
        var anonymous = Client(null);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/readyz")).StatusCode);
    }

    [Fact]
    public async Task Reads_need_read_and_changes_need_write_else_403_EPERM()
    {
        var reader = Client(ReaderSecret);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/v1/interfaces")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/v1/cloners")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/v1/groups")).StatusCode);

        var refused = await (await reader.Create("tap")).Problem(HttpStatusCode.Forbidden, "EPERM");
        Assert.Contains("'reader'", refused.GetProperty("detail").GetString());
        Assert.Contains("'write'", refused.GetProperty("detail").GetString());

        var writer = Client(WriterSecret);
        var tap = await writer.CreateOk("tap");
        var name = tap.GetProperty("name").GetString();
        await (await reader.Patch(name!, """{"mtu":1400}""")).Problem(HttpStatusCode.Forbidden, "EPERM");
        await (await reader.PostAsJsonAsync($"/v1/interfaces/{name}/groups", new { group = "lan" })).Problem(HttpStatusCode.Forbidden, "EPERM");
        await (await reader.PutAsync($"/v1/interfaces/{name}/groups/lan", null)).Problem(HttpStatusCode.Forbidden, "EPERM");
        await (await reader.PostAsync($"/v1/interfaces/{name}/frames", new ByteArrayContent(new byte[60]) { Headers = { ContentType = new("application/octet-stream") } }))
            .Problem(HttpStatusCode.Forbidden, "EPERM");
        await (await reader.DeleteAsync($"/v1/interfaces/{name}")).Problem(HttpStatusCode.Forbidden, "EPERM");

        // A key with only tap cannot read.
        await (await Client(TapSecret).GetAsync("/v1/interfaces")).Problem(HttpStatusCode.Forbidden, "EPERM");

        Assert.Equal(HttpStatusCode.NoContent, (await writer.DeleteAsync($"/v1/interfaces/{name}")).StatusCode);
    }

    [Fact]
    public async Task Cloner_attach_and_detach_need_admin()
    {
        var body = new { name = "authx", kind = "tap" };
        await (await Client(WriterSecret).PostAsJsonAsync("/v1/cloners", body)).Problem(HttpStatusCode.Forbidden, "EPERM");
        var admin = Client(AdminSecret);
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/v1/cloners", body)).StatusCode);
        await (await Client(WriterSecret).DeleteAsync("/v1/cloners/authx")).Problem(HttpStatusCode.Forbidden, "EPERM");
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/v1/cloners/authx")).StatusCode);
    }

    [Fact]
    public async Task Opening_a_tap_needs_tap_and_a_browser_may_pass_the_key_as_access_token()
    {
        var name = (await Client(WriterSecret).CreateOk("tap")).GetProperty("name").GetString();
        var ws = _factory.Server.CreateWebSocketClient();

        // The writer has no tap scope: refused before the upgrade.
        var refused = await Assert.ThrowsAnyAsync<Exception>(() =>
            ws.ConnectAsync(new Uri(_factory.Server.BaseAddress, $"/v1/interfaces/{name}/tap?access_token={WriterSecret}"), CancellationToken.None));
        Assert.Contains("403", refused.Message);
        var anonymous = await Assert.ThrowsAnyAsync<Exception>(() =>
            ws.ConnectAsync(new Uri(_factory.Server.BaseAddress, $"/v1/interfaces/{name}/tap"), CancellationToken.None));
        Assert.Contains("401", anonymous.Message);

        using var socket = await ws.ConnectAsync(new Uri(_factory.Server.BaseAddress, $"/v1/interfaces/{name}/tap?access_token={TapSecret}"), CancellationToken.None);
        Assert.Equal(WebSocketState.Open, socket.State);
        Assert.Contains(_logs.Lines, l => l.Contains($"tap {name} opened", StringComparison.Ordinal) && l.Contains("Key:v86", StringComparison.Ordinal));
        var opened = await Client(ReaderSecret).GetOk($"/v1/interfaces/{name}");
        Assert.Contains("running", opened.Strings("flags"));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    [Fact]
    public async Task The_query_key_is_for_GETs_only()
    {
        var anonymous = Client(null);
        var r = await anonymous.PostAsJsonAsync($"/v1/interfaces?access_token={WriterSecret}", new { name = "tap" });
        await r.Problem(HttpStatusCode.Unauthorized, "ENEEDAUTH");
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync($"/v1/interfaces?access_token={ReaderSecret}")).StatusCode);
    }

    [Fact]
    public async Task Every_change_records_its_key_in_the_event_and_the_log_and_no_secret_is_logged()
    {
        var writer = Client(WriterSecret);
        await using var events = await EventStream.OpenAsync(Client(ReaderSecret));
        var tap = await writer.CreateOk("tap");
        var id = tap.GetProperty("id").GetString();
        var name = tap.GetProperty("name").GetString();
        var arrival = (await events.ReadUntilAsync(e => e.Type == "interface-arrival" && e.InterfaceId == id)).Last();
        Assert.Equal("ci", arrival.Body.GetProperty("actor").GetString());

        Assert.Equal(HttpStatusCode.NoContent, (await writer.DeleteAsync($"/v1/interfaces/{name}")).StatusCode);
        var departure = (await events.ReadUntilAsync(e => e.Type == "interface-departure" && e.InterfaceId == id)).Last();
        Assert.Equal("ci", departure.Body.GetProperty("actor").GetString());

        // A refused change and a key in the query are logged too, by name only.
        await Client(ReaderSecret).Create("tap");
        await Client(null).GetAsync($"/v1/interfaces?access_token={ReaderSecret}");
        await Client(null).GetAsync($"/v1/interfaces?access_token=wrong-secret-{WriterSecret}");

        var lines = _logs.Lines.ToArray();
        Assert.Contains(lines, l => l.Contains("POST /v1/interfaces answered 201 for key ci", StringComparison.Ordinal) && l.Contains("Key:ci", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains($"DELETE /v1/interfaces/{name} answered 204 for key ci", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("POST /v1/interfaces answered 403 for key reader", StringComparison.Ordinal));
        foreach (var secret in new[] { ReaderSecret, WriterSecret, AdminSecret, TapSecret })
            Assert.DoesNotContain(lines, l => l.Contains(secret, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_request_id_is_honoured_echoed_and_in_problems_and_logs()
    {
        var writer = Client(WriterSecret);
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/interfaces") { Content = JsonContent.Create(new { name = "tap07" }) };
        request.Headers.Add("X-Request-ID", "deploy-42.step-7");
        var r = await writer.SendAsync(request);
        Assert.Equal("deploy-42.step-7", r.Headers.GetValues("X-Request-ID").Single());
        var problem = await r.Problem(HttpStatusCode.BadRequest, "EINVAL");
        Assert.Equal("deploy-42.step-7", problem.GetProperty("requestId").GetString());
        Assert.Contains(_logs.Lines, l => l.Contains("RequestId:deploy-42.step-7", StringComparison.Ordinal) && l.Contains("answered 400", StringComparison.Ordinal));

        // None given, or one that is not a sane token: a fresh one.
        var fresh = await Client(ReaderSecret).GetAsync("/v1/interfaces");
        Assert.Matches("^[0-9a-f]{32}$", fresh.Headers.GetValues("X-Request-ID").Single());
        var junk = new HttpRequestMessage(HttpMethod.Get, "/v1/interfaces");
        junk.Headers.TryAddWithoutValidation("X-Request-ID", new string('a', 129));
        Assert.Matches("^[0-9a-f]{32}$", (await Client(ReaderSecret).SendAsync(junk)).Headers.GetValues("X-Request-ID").Single());
        // A refusal before any endpoint ran carries it too.
        Assert.Single((await Client(null).GetAsync("/v1/interfaces")).Headers.GetValues("X-Request-ID"));
    }
}

/// <summary>The key ring and the loopback rewrite, without HTTP.</summary>
public sealed class ApiKeyRingTests
{
    /// <summary>The ring the service would make of these settings, through its own registration.</summary>
    private static ApiKeyRing Ring(params (string, string?)[] settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Item1, s.Item2))).Build();
        using var services = AuthSetup.AddApiKeys(new ServiceCollection().AddSingleton<IConfiguration>(configuration)).BuildServiceProvider();
        return services.GetRequiredService<ApiKeyRing>();
    }

    [Fact]
    public void A_secret_finds_its_key_among_several_and_nothing_else_does()
    {
        var ring = Ring(("Auth:Keys:a:Secret", "aaaaaaaaaaaaaaaa1"), ("Auth:Keys:a:Scopes", "read"),
            ("Auth:Keys:b:Secret", "bbbbbbbbbbbbbbbb2"), ("Auth:Keys:b:Scopes", "write, tap"));
        Assert.Equal("a", ring.Match("aaaaaaaaaaaaaaaa1")?.Name);
        Assert.Equal("b", ring.Match("bbbbbbbbbbbbbbbb2")?.Name);
        Assert.Equal(Scopes.Write | Scopes.Tap, ring.Match("bbbbbbbbbbbbbbbb2")!.Scopes);
        Assert.Null(ring.Match("aaaaaaaaaaaaaaaa"));
        Assert.Null(ring.Match(""));
        Assert.Null(ring.Match(new string('x', 100_000)));
        Assert.False(ring.Open);
        Assert.True(Ring().Open);
        Assert.DoesNotContain("aaaa", ring.Keys[0].ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Auth:Keys:a:Scopes", "read", "Secret is not set")]
    [InlineData("Auth:Keys:a:Secret", "short", "shorter than 16")]
    [InlineData("Auth:Keys:a:Secret", "long-enough-secret", "names no scope")]
    [InlineData("Auth:Keys:a", "long-enough-secret", "Auth:Keys:a:Secret is not set")] // Auth__Keys__a=…: a value, and no key under it
    public void A_key_that_cannot_work_stops_the_start(string key, string value, string message)
    {
        var e = Assert.Throws<OptionsValidationException>(() => Ring((key, value)));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_scopes_bad_names_and_shared_secrets_stop_the_start()
    {
        Assert.Contains("'root'", Assert.Throws<OptionsValidationException>(() =>
            Ring(("Auth:Keys:a:Secret", "long-enough-secret"), ("Auth:Keys:a:Scopes", "read root"))).Message);
        Assert.Contains("key name", Assert.Throws<OptionsValidationException>(() =>
            Ring(("Auth:Keys:a b:Secret", "long-enough-secret"), ("Auth:Keys:a b:Scopes", "read"))).Message);
        Assert.Contains("key name", Assert.Throws<OptionsValidationException>(() =>
            Ring(($"Auth:Keys:{new string('k', 65)}:Secret", "long-enough-secret"), ($"Auth:Keys:{new string('k', 65)}:Scopes", "read"))).Message);
        Assert.Equal(2, Ring(($"Auth:Keys:{new string('k', 64)}:Secret", "long-enough-secret-1"), ($"Auth:Keys:{new string('k', 64)}:Scopes", "read"),
            ("Auth:Keys:ops.ci_1-x:Secret", "long-enough-secret-2"), ("Auth:Keys:ops.ci_1-x:Scopes", "read")).Keys.Count);
        Assert.Contains("same secret", Assert.Throws<OptionsValidationException>(() =>
            Ring(("Auth:Keys:a:Secret", "long-enough-secret"), ("Auth:Keys:a:Scopes", "read"),
                ("Auth:Keys:b:Secret", "long-enough-secret"), ("Auth:Keys:b:Scopes", "write"))).Message);
    }

    [Theory]
    [InlineData("http://+:8080", "http://127.0.0.1:8080")]
    [InlineData("http://*:8080;https://0.0.0.0:8443", "http://127.0.0.1:8080;https://127.0.0.1:8443")]
    [InlineData("http://[::]:80", "http://127.0.0.1:80")]
    [InlineData("http://example.org:80/base", "http://127.0.0.1:80/base")]
    [InlineData("http://localhost:5000", "http://localhost:5000")]
    [InlineData("http://127.0.0.2:5000;http://[::1]:5001", "http://127.0.0.2:5000;http://[::1]:5001")]
    [InlineData("http://127.0.0.1:80:8080", "http://127.0.0.1:8080")] // Kestrel reads the port after the last colon
    [InlineData("http://localhost:1:5000", "http://127.0.0.1:5000")]
    [InlineData("http://unix:/run/ifapi.sock", "http://unix:/run/ifapi.sock")]
    public void Without_keys_every_address_becomes_loopback(string urls, string expected) =>
        Assert.Equal(expected, LoopbackOnly.RestrictUrls(urls));
}

/// <summary>Where the service listens with and without keys, seen from outside its process.</summary>
public sealed class OpenModeTests(SqliteStore store) : IClassFixture<SqliteStore>
{
    [Fact]
    public async Task Without_keys_the_service_listens_on_loopback_only_and_says_so()
    {
        await using var open = await ServiceProcess.StartAsync(store, urls: "http://0.0.0.0:0");
        Assert.Contains(open.Output, l => l.Contains("Now listening on: http://127.0.0.1:", StringComparison.Ordinal));
        Assert.DoesNotContain(open.Output, l => l.Contains("0.0.0.0", StringComparison.Ordinal));
        await open.WaitForOutputAsync(l => l.Contains("No API keys are configured", StringComparison.Ordinal) && l.Contains("loopback only", StringComparison.Ordinal));
        using var client = open.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/interfaces")).StatusCode);
    }

    [Fact]
    public async Task With_keys_it_listens_where_it_is_told_and_names_its_keys_but_not_their_secrets()
    {
        await using var keyed = await ServiceProcess.StartAsync(store, AuthTests.Keys, urls: "http://0.0.0.0:0");
        Assert.Contains(keyed.Output, l => l.Contains("Now listening on: http://0.0.0.0:", StringComparison.Ordinal));
        var announced = await keyed.WaitForOutputAsync(l => l.Contains("API keys: ", StringComparison.Ordinal));
        foreach (var key in new[] { "reader (read)", "ci (read write)", "ops (read admin)", "v86 (tap)" })
            Assert.Contains(key, announced, StringComparison.Ordinal);
        using var client = keyed.Client(AuthTests.WriterSecret);
        Assert.Equal(HttpStatusCode.Created, (await client.Create("tap")).StatusCode);
        Assert.DoesNotContain(keyed.Output, l => l.Contains(AuthTests.WriterSecret, StringComparison.Ordinal));
    }
}

/// <summary>Open mode's last line: a request that arrives on an address other than loopback is refused.</summary>
public sealed class OpenModeRequestTests(SqliteStore store) : IClassFixture<SqliteStore>
{
    private sealed class ArrivesOn(IPAddress local) : Microsoft.AspNetCore.Hosting.IStartupFilter
    {
        public Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> Configure(Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> next) => app =>
        {
            app.Use((http, rest) =>
            {
                http.Connection.LocalIpAddress = local;
                return rest(http);
            });
            next(app);
        };
    }

    private IfApiFactory Arriving(string address) => new(store.Provider, store.ConnectionString, [])
    {
        MoreServices = s => s.AddSingleton<Microsoft.AspNetCore.Hosting.IStartupFilter>(new ArrivesOn(IPAddress.Parse(address))),
    };

    [Fact]
    public async Task Without_keys_a_request_to_another_address_is_401_and_loopback_is_served()
    {
        using (var outside = Arriving("198.18.0.1"))
        {
            var r = await outside.CreateClient().GetAsync("/v1/interfaces");
            var problem = await r.Problem(HttpStatusCode.Unauthorized, "ENEEDAUTH");
            Assert.Contains("loopback only", problem.GetProperty("detail").GetString());
            Assert.Equal(HttpStatusCode.OK, (await outside.CreateClient().GetAsync("/healthz")).StatusCode);
        }
        foreach (var local in new[] { "127.0.0.1", "::1", "::ffff:127.0.0.1" })
        {
            using var inside = Arriving(local);
            Assert.Equal(HttpStatusCode.OK, (await inside.CreateClient().GetAsync("/v1/interfaces")).StatusCode);
        }
    }
}
