using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

/// <summary>
/// What the contract for SDKs and IaC tools costs: 100 creates as one transaction against 100 single
/// creates one after another (the way a tool applying resources one by one sends them), and a dry-run
/// create against a real one. The sides take turns round by round, so the drift of a shared machine
/// lands on both; a ratio is the median of each pair's ratio.
/// </summary>
internal static class ContractPart
{
    private const int Creates = 100;

    public static async Task RunAsync(BenchOptions opts, string dll, string server, Action<string> line)
    {
        var db = await Pg.CreateDatabaseAsync(server, "ifapi_bench_contract");
        await using var svc = await Service.StartAsync(dll, "Postgres", db);
        using var http = Load.NewClient();
        await Load.WarmUpAsync(svc.Url, 8, opts.Warmup);
        await AttachAsync(http, svc.Url, "bt");
        await AttachAsync(http, svc.Url, "bs");

        // Warm both paths past tiered compilation's call-count threshold (2000 calls: a transaction of
        // 100 reaches it after 20), then the rounds.
        for (var i = 0; i < 25; i++)
        {
            await SinglesAsync(http, svc.Url, "bs");
            await TransactionAsync(http, svc.Url, "bt");
        }
        var (singles, batches) = (new List<double>(), new List<double>());
        var rounds = Math.Max(opts.Pairs, 5);
        for (var r = 0; r < rounds; r++)
        {
            singles.Add(await SinglesAsync(http, svc.Url, "bs"));
            batches.Add(await TransactionAsync(http, svc.Url, "bt"));
        }
        var ratios = singles.Zip(batches, (s, t) => s / t).ToList();
        line(F($"create x{Creates} singles     postgres wall p50={Figures.MedianOf(singles),8:F1}ms min={singles.Min(),8:F1}ms max={singles.Max(),8:F1}ms ({rounds} rounds, one client, one after another)"));
        line(F($"create x{Creates} transaction postgres wall p50={Figures.MedianOf(batches),8:F1}ms min={batches.Min(),8:F1}ms max={batches.Max(),8:F1}ms (one POST /v1/transactions)"));
        line(F($"ratio singles/transaction postgres {Figures.MedianOf(ratios):F2}x (median of {rounds} paired rounds: {string.Join(" ", ratios.Select(x => x.ToString("F1", CultureInfo.InvariantCulture)))}; target >= 5)"));

        // Dry-run against real creates, blocks taking turns; a real create's destroy is not timed.
        var (real, dry) = (new List<double>(), new List<double>());
        for (var block = 0; block < 10; block++)
        {
            for (var i = 0; i < opts.Samples / 10; i++)
            {
                var (ms, id) = await CreateAsync(http, svc.Url, "bs", dryRun: false);
                real.Add(ms);
                await http.DeleteAsync($"{svc.Url}/v1/interfaces/{id}");
            }
            for (var i = 0; i < opts.Samples / 10; i++)
                dry.Add((await CreateAsync(http, svc.Url, "bs", dryRun: true)).Ms);
        }
        real.Sort();
        dry.Sort();
        line(F($"create real    postgres p50={Figures.Percentile(real, 0.5),7:F2}ms p99={Figures.Percentile(real, 0.99),7:F2}ms ({real.Count} one after another)"));
        line(F($"create dry run postgres p50={Figures.Percentile(dry, 0.5),7:F2}ms p99={Figures.Percentile(dry, 0.99),7:F2}ms ({dry.Count}, in blocks taking turns with the real ones)"));
        line(F($"ratio dry run/real p50 {Figures.Percentile(dry, 0.5) / Figures.Percentile(real, 0.5):F2} p99 {Figures.Percentile(dry, 0.99) / Figures.Percentile(real, 0.99):F2} (target <= 1.00)"));
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static async Task AttachAsync(HttpClient http, string url, string cloner)
    {
        using var r = await http.PostAsync($"{url}/v1/cloners", Json($$"""{"name":"{{cloner}}","kind":"tap"}"""));
        if (r.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.Conflict))
            throw new InvalidOperationException($"attach {cloner}: {(int)r.StatusCode}");
    }

    /// <summary>100 creates one after another; their destroys (one transaction, not timed) leave the cloner empty.</summary>
    private static async Task<double> SinglesAsync(HttpClient http, string url, string cloner)
    {
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < Creates; i++)
        {
            using var r = await http.PostAsync($"{url}/v1/interfaces", Json($$"""{"cloner":"{{cloner}}"}"""));
            if (r.StatusCode != HttpStatusCode.Created)
                throw new InvalidOperationException($"create: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        }
        var ms = clock.Elapsed.TotalMilliseconds;
        await DestroyAllAsync(http, url, cloner);
        return ms;
    }

    /// <summary>100 creates as one transaction; then their destroys, not timed.</summary>
    private static async Task<double> TransactionAsync(HttpClient http, string url, string cloner)
    {
        var ops = string.Join(",", Enumerable.Repeat($$$"""{"method":"POST","path":"/v1/interfaces","body":{"cloner":"{{{cloner}}}"}}""", Creates));
        var clock = Stopwatch.StartNew();
        using (var r = await http.PostAsync($"{url}/v1/transactions", Json($$"""{"operations":[{{ops}}]}""")))
        {
            if (r.StatusCode != HttpStatusCode.OK)
                throw new InvalidOperationException($"transaction: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
            await r.Content.ReadAsByteArrayAsync();
        }
        var ms = clock.Elapsed.TotalMilliseconds;
        await DestroyAllAsync(http, url, cloner);
        return ms;
    }

    private static async Task DestroyAllAsync(HttpClient http, string url, string cloner)
    {
        var ops = string.Join(",", Enumerable.Range(0, Creates).Select(u => $$"""{"method":"DELETE","path":"/v1/interfaces/{{cloner}}{{u}}"}"""));
        using var r = await http.PostAsync($"{url}/v1/transactions", Json($$"""{"operations":[{{ops}}]}"""));
        if (r.StatusCode != HttpStatusCode.OK)
            throw new InvalidOperationException($"destroy: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
    }

    private static async Task<(double Ms, string Id)> CreateAsync(HttpClient http, string url, string cloner, bool dryRun)
    {
        var clock = Stopwatch.StartNew();
        using var r = await http.PostAsync($"{url}/v1/interfaces{(dryRun ? "?dryRun=true" : "")}", Json($$"""{"cloner":"{{cloner}}"}"""));
        var body = await r.Content.ReadAsStringAsync();
        var ms = clock.Elapsed.TotalMilliseconds;
        if (r.StatusCode != HttpStatusCode.Created)
            throw new InvalidOperationException($"create: {(int)r.StatusCode} {body}");
        return (ms, JsonDocument.Parse(body).RootElement.GetProperty("id").GetString()!);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
