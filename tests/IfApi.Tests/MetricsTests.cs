using System.Globalization;
using System.Net;
using System.Net.Http.Headers;

namespace IfApi.Tests;

/// <summary>
/// <c>GET /metrics</c>: Prometheus text through OpenTelemetry. Runs alone: a meter listener hears
/// every meter of the process by name, so other tests' hosts would report under the same names (a
/// deployed process has one host).
/// </summary>
[Collection(nameof(Alone))]
public sealed class MetricsTests : IClassFixture<SqliteStore>, IDisposable
{
    private readonly IfApiFactory Factory;
    private readonly HttpClient Client;

    public MetricsTests(SqliteStore store)
    {
        Factory = store.NewFactory(AuthTests.Keys);
        Factory.UseKestrel(0);
        Factory.StartServer();
        Client = Factory.CreateClient();
        Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AuthTests.WriterSecret);
    }

    public void Dispose()
    {
        Client.Dispose();
        Factory.Dispose();
    }

    [Fact]
    public async Task Metrics_need_read_and_count_requests_creates_destroys_frames_drops_and_open_devices()
    {
        var name = (await Client.CreateOk("tap")).GetProperty("name").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await Client.Patch(name, """{"up":true}""")).StatusCode);
        await (await Client.Create("lo0")).Problem(HttpStatusCode.Conflict, "EEXIST");        // matched the lo cloner
        await (await Client.Create("nosuch0")).Problem(HttpStatusCode.BadRequest, "EINVAL");  // matched none
        await (await Client.DeleteAsync("/v1/interfaces/nosuch9")).Problem(HttpStatusCode.NotFound, "ENXIO");
        await (await Client.DeleteAsync("/v1/interfaces/lo0")).Problem(HttpStatusCode.BadRequest, "EINVAL");

        await using (var tap = await TapClient.ConnectAsync(Client.BaseAddress!, $"/v1/interfaces/{name}/tap?access_token={AuthTests.TapSecret}"))
        {
            await tap.SendAsync(Ether.Frame(Ether.Broadcast, Ether.Station(1)));
            await tap.SendRawAsync(new byte[10]); // a runt: an input error
            var frame = new ByteArrayContent(Ether.Frame(Ether.Station(1), Ether.Station(2))) { Headers = { ContentType = new("application/octet-stream") } };
            Assert.Equal(HttpStatusCode.Accepted, (await Client.PostAsync($"/v1/interfaces/{name}/frames", frame)).StatusCode);
            Assert.NotNull(await tap.ReceiveAsync(TimeSpan.FromSeconds(5)));

            var open = await Scrape();
            Assert.True(Value(open, "ifapi_tap_open") >= 1, open);
        }

        var text = await Scrape();
        Assert.True(Value(text, "ifapi_interface_creates_total", ("cloner", "tap"), ("errno", "none")) >= 1, text);
        Assert.True(Value(text, "ifapi_interface_creates_total", ("cloner", "lo"), ("errno", "EEXIST")) >= 1, text);
        Assert.True(Value(text, "ifapi_interface_creates_total", ("cloner", "none"), ("errno", "EINVAL")) >= 1, text);
        Assert.True(Value(text, "ifapi_interface_destroys_total", ("cloner", "none"), ("errno", "ENXIO")) >= 1, text);
        Assert.True(Value(text, "ifapi_interface_destroys_total", ("cloner", "lo"), ("errno", "EINVAL")) >= 1, text);
        Assert.True(Value(text, "ifapi_tap_frames_total", ("direction", "in")) >= 1, text);
        Assert.True(Value(text, "ifapi_tap_frames_total", ("direction", "out")) >= 1, text);
        Assert.True(Value(text, "ifapi_tap_bytes_total", ("direction", "in")) >= 60, text);
        Assert.True(Value(text, "ifapi_tap_drops_total", ("reason", "input-error")) >= 1, text);
        Assert.True(Value(text, "ifapi_tap_queue_high_water") >= 1, text);
        Assert.True(Value(text, "http_server_request_duration_seconds_count", ("http_route", "/v1/interfaces/"), ("http_request_method", "POST")) >= 3, text);
    }

    private async Task<string> Scrape()
    {
        using var anonymous = Factory.CreateClient();
        await (await anonymous.GetAsync("/metrics")).Problem(HttpStatusCode.Unauthorized, "ENEEDAUTH");
        using var reader = Factory.CreateClient();
        reader.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AuthTests.ReaderSecret);
        var r = await reader.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("text/plain", r.Content.Headers.ContentType?.MediaType);
        return await r.Content.ReadAsStringAsync();
    }

    /// <summary>The sum of a metric's samples that carry all the given labels (other instances in this process add theirs).</summary>
    [Fact]
    public async Task What_did_not_commit_is_not_counted_as_created_or_destroyed()
    {
        static double Or0(double v) => Math.Max(v, 0);
        async Task<(double Created, double Destroyed)> Counts()
        {
            var text = await Client.GetStringAsync("/metrics");
            return (Or0(Value(text, "ifapi_interface_creates_total", ("cloner", "tap"), ("errno", "none"))),
                Or0(Value(text, "ifapi_interface_destroys_total", ("cloner", "tap"), ("errno", "none"))));
        }
        var name = (await Client.CreateOk("tap")).Str("name");
        var before = await Counts();

        // A dry run, and a cloning open onto a bridge that is not there: each created a tap and rolled it back.
        Assert.Equal(HttpStatusCode.Created, (await Client.PostJson("/v1/interfaces?dryRun=true", """{"name":"tap"}""")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{name}?dryRun=true")).StatusCode);
        await (await Client.Upgrade("/v1/tap?bridge=nosuch9", AuthTests.TapSecret)).Problem(HttpStatusCode.NotFound, "ENXIO");
        Assert.Equal(before, await Counts());

        // What commits is counted.
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/interfaces/{name}")).StatusCode);
        Assert.Equal((before.Created, before.Destroyed + 1), await Counts());
    }

    internal static double Value(string text, string metric, params (string Name, string Value)[] labels)
    {
        var sum = 0.0;
        var found = false;
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(metric, StringComparison.Ordinal) || line.Length <= metric.Length || line[metric.Length] is not ('{' or ' '))
                continue;
            if (!labels.All(l => line.Contains($"{l.Name}=\"{l.Value}\"", StringComparison.Ordinal)))
                continue;
            var value = line.Split(' ')[^1];
            if (line.Split(' ') is { Length: >= 2 } parts && double.TryParse(parts[^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
                || line.Split(' ') is { Length: >= 3 } p3 && double.TryParse(p3[^2], NumberStyles.Float, CultureInfo.InvariantCulture, out v))
            {
                sum += v;
                found = true;
            }
            _ = value;
        }
        return found ? sum : -1;
    }
}
