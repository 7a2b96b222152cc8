using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;

namespace IfApi.Tests;

public sealed class SqliteContractTests(SqliteStore store) : ContractTests<SqliteStore>(store);

public sealed class PostgresContractTests(PostgresStore store) : ContractTests<PostgresStore>(store);

/// <summary>
/// What a generated client or an IaC tool leans on: every error carries <c>errno</c>, whatever refused
/// it (routing, content negotiation, the body's size, credentials, a precondition), and a query
/// parameter an operation does not take is refused like an unknown JSON member, never ignored.
/// </summary>
public abstract class ContractTests<TStore>(TStore store) : ApiTests<TStore>(store,
    ("Auth:Keys:ci:Secret", AuthTests.WriterSecret), ("Auth:Keys:ci:Scopes", "read write"),
    ("Auth:Keys:reader:Secret", AuthTests.ReaderSecret), ("Auth:Keys:reader:Scopes", "read")) where TStore : StoreFixture
{
    private HttpClient Keyed(string secret)
    {
        var c = Factory.CreateClient();
        c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        return c;
    }

    [Fact]
    public async Task Every_refusal_carries_an_errno()
    {
        using var writer = Keyed(AuthTests.WriterSecret);
        // 401: no key, a wrong key; with WWW-Authenticate.
        var none = await Client.GetAsync("/v1/interfaces");
        await none.Problem(HttpStatusCode.Unauthorized, "ENEEDAUTH");
        Assert.NotEmpty(none.Headers.WwwAuthenticate);
        using (var wrong = Keyed("not-a-key-0123456789"))
            await (await wrong.GetAsync("/v1/interfaces")).Problem(HttpStatusCode.Unauthorized, "EAUTH");
        // 403: a scope the key lacks.
        using (var reader = Keyed(AuthTests.ReaderSecret))
            await (await reader.PostAsJsonAsync("/v1/interfaces", new { name = "tap" })).Problem(HttpStatusCode.Forbidden, "EPERM");
        // 405: a method the path does not take.
        await (await writer.DeleteAsync("/v1/groups")).Problem(HttpStatusCode.MethodNotAllowed, "EOPNOTSUPP");
        // 412: If-Match naming another version.
        var tap = await writer.CreateOk("tap");
        await (await writer.Patch(tap.Str("name"), """{"mtu":1400}""", "\"999\"")).Problem(HttpStatusCode.PreconditionFailed, "ESTALE");
        // 413 (a body past Kestrel's limit, which the test host does not enforce): LimitsTests, on a real server.
        // 415: a body of a type the operation does not take.
        await (await writer.PostAsync("/v1/interfaces", new StringContent("name=tap", Encoding.UTF8, "text/plain"))).Problem(HttpStatusCode.UnsupportedMediaType, "EINVAL");
        await (await writer.PatchAsync($"/v1/interfaces/{tap.Str("name")}", new StringContent("mtu=1400", Encoding.UTF8, "text/plain"))).Problem(HttpStatusCode.UnsupportedMediaType, "EINVAL");
        // 404: nothing there.
        await (await writer.GetAsync("/v1/nosuch")).Problem(HttpStatusCode.NotFound, "ENOENT");
    }

    [Theory]
    [InlineData("GET", "/v1/interfaces?limit=5&colour=red")]
    [InlineData("GET", "/v1/cloners/tap?verbose=1")]
    [InlineData("GET", "/v1/groups?x")]
    [InlineData("POST", "/v1/interfaces?force=true")]
    [InlineData("DELETE", "/v1/interfaces/lo0?recursive=1")]
    [InlineData("POST", "/v1/interfaces?dryRun=maybe")]
    [InlineData("POST", "/v1/interfaces?dryRun=true&dryRun=false")]
    [InlineData("GET", "/v1/interfaces?dryRun=true")]
    [InlineData("POST", "/v1/interfaces?access_token=x")]
    public async Task A_query_parameter_an_operation_does_not_take_is_refused(string method, string url)
    {
        using var writer = Keyed(AuthTests.WriterSecret);
        var request = new HttpRequestMessage(new HttpMethod(method), url);
        if (method == "POST")
            request.Content = JsonContent.Create(new { name = "tap" });
        var before = await StoreDump.SettledAsync(Store);
        await (await writer.SendAsync(request)).Problem(HttpStatusCode.BadRequest, "EINVAL");
        Assert.Equal(before, await StoreDump.SettledAsync(Store));
    }

    [Fact]
    public async Task Query_parameters_an_operation_takes_still_work()
    {
        using var writer = Keyed(AuthTests.WriterSecret);
        await writer.GetOk("/v1/interfaces?limit=5&cloner=lo&group=all");
        await writer.GetOk("/v1/cloners?limit=1");
        using var browser = Factory.CreateClient();
        await browser.GetOk($"/v1/interfaces?access_token={AuthTests.WriterSecret}");
        await (await writer.PostAsJsonAsync("/v1/interfaces?dryRun=false", new { name = "tap" })).Json(HttpStatusCode.Created);
    }
}
