// Create+destroy benchmark: the service over HTTP against PostgreSQL and SQLite, next to pgbench
// replaying the same SQL on the same server, and create latency with 30,000 interfaces present.
// Run it with bench/run.sh, which starts a throw-away PostgreSQL; see README.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using IfApi.Domain;
using IfApi.Store;
using Npgsql;

var opts = BenchOptions.Parse(args);
var root = Repo.Root();
var service = Path.Combine(root, "src", "IfApi", "bin", "Release", "net10.0", "IfApi.dll");
if (!File.Exists(service))
    throw new InvalidOperationException($"build the service first: dotnet build -c Release ({service} is missing)");

Console.WriteLine($"# {Environment.ProcessorCount} cores; each point is the median of {opts.Rounds} rounds of {opts.Seconds}s after a {opts.Warmup}s warm-up per store; clients {string.Join(",", opts.Clients)}; fill {opts.Fill}; side-by-side parts (auth, replicas, runtime) {opts.Pairs} alternating pairs of rounds at {opts.Clients.Max()} clients");
var results = new List<string>();

if (opts.Postgres is { } pg && new[] { "create", "patch", "events", "latency" }.Any(opts.Runs))
{
    var db = await Pg.CreateDatabaseAsync(pg, "ifapi_bench");
    await using (var svc = await Service.StartAsync(service, "Postgres", db))
    {
        await Load.WarmUpAsync(svc.Url, opts.Clients.Max(), opts.Warmup);
        foreach (var c in opts.Runs("create") ? opts.Clients : [])
        {
            // HTTP and pgbench rounds alternate, and the ratio is the median of each pair's ratio:
            // the disk and the neighbours of a shared VM drift, and both sides should see the same drift.
            var https = new List<Figures>();
            var refs = new List<Figures>();
            for (var r = 0; r < opts.Rounds; r++)
            {
                https.Add(await Load.CreateDestroyAsync([svc.Url], c, opts.Seconds, cpuSeconds: svc.CpuSeconds));
                refs.Add(await PgBench.RunAsync(db, c, opts.Seconds));
            }
            // An operation is two requests (a create and a destroy): the target is per request.
            var cpu = Figures.MedianOf(https.Select(h => h.CpuMsPerOp)) / 2;
            Line(Figures.FormatRounds(https, $"create+destroy http    postgres clients={c,-2}")
                + string.Create(CultureInfo.InvariantCulture, $" service-cpu/request={cpu:F3}ms{(c == 32 ? " (target <= 0.30)" : "")}"));
            Report(Median(refs), $"create+destroy pgbench postgres clients={c,-2}");
            var ratios = https.Zip(refs, (h, p) => h.OpsPerSecond / p.OpsPerSecond).ToList();
            Line($"ratio http/pgbench     postgres clients={c,-2} {Figures.MedianOf(ratios):F2} (median of {ratios.Count} paired rounds: {string.Join(" ", ratios.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))}; target >= 0.50 at 32)");
        }
        // Attribute changes next to create/destroy, and how soon a subscriber hears of each.
        foreach (var c in opts.Runs("patch") ? new[] { 8, 32 } : [])
            Report(await Rounds(() => Load.PatchAsync(svc.Url, c, opts.Seconds)), $"patch          http    postgres clients={c,-2}");
        if (opts.Runs("events"))
        {
            // Settled first, like the latency comparison below: the loads above leave autovacuum and
            // a checkpoint to run underneath, which is their cost, not the event path's.
            await Pg.SettleAsync(db);
            await EventRoundsAsync(svc.Url);
        }
        if (opts.Runs("latency"))
        {
            var fullDb = await Pg.CreateDatabaseAsync(pg, "ifapi_bench_full");
            await using var full = await Service.StartAsync(service, "Postgres", fullDb);
            await FillAndCompareAsync("postgres", svc.Url, () => Pg.SettleAsync(db), full.Url, () => Pg.SettleAsync(fullDb));
        }
    }
}

if (opts.Postgres is { } server)
{
    if (opts.Runs("auth"))
        await ServiceParts.AuthAsync(opts, service, server, Line);
    if (opts.Runs("replicas"))
        await ServiceParts.ReplicasAsync(opts, service, server, Line);
    if (opts.Runs("memory"))
        await MemoryPart.RunAsync(opts, service, server, Line);
    if (opts.Runs("runtime"))
        await ServiceParts.RuntimesAsync(opts, service, server, Line);
    if (opts.Runs("contract"))
        await ContractPart.RunAsync(opts, service, server, Line);
    if (opts.Runs("vnets"))
        await VnetPart.RunAsync(opts, service, server, Line);
    if (opts.Runs("page"))
        await PagePart.RunAsync(root, server, Line);
}

if (opts.Runs("sqlite"))
{
    var sqliteDir = Directory.CreateTempSubdirectory("ifapi-bench-");
    var sqliteFile = $"Data Source={Path.Combine(sqliteDir.FullName, "bench.db")}";
    await using (var svc = await Service.StartAsync(service, "Sqlite", sqliteFile))
    {
        await Load.WarmUpAsync(svc.Url, opts.Clients.Max(), opts.Warmup);
        foreach (var c in opts.Clients)
            Report(await Rounds(() => Load.CreateDestroyAsync(svc.Url, c, opts.Seconds)), $"create+destroy http    sqlite   clients={c,-2}");
        var fullFile = $"Data Source={Path.Combine(sqliteDir.FullName, "full.db")}";
        await using var full = await Service.StartAsync(service, "Sqlite", fullFile);
        await FillAndCompareAsync("sqlite", svc.Url, () => Sqlite.SettleAsync(sqliteFile), full.Url, () => Sqlite.SettleAsync(fullFile));
    }
    sqliteDir.Delete(recursive: true);
}

Console.WriteLine();
Console.WriteLine("# summary");
foreach (var r in results)
    Console.WriteLine(r);
return 0;

// Create latency on a store with none of its own interfaces (the warm service that ran the load
// above) and on a second store filled with opts.Fill, served by a second service process. Samples
// alternate between the two in batches, so the drift of a shared machine lands on both alike.
async Task FillAndCompareAsync(string store, string emptyUrl, Func<Task> settleEmpty, string fullUrl, Func<Task> settleFull)
{
    var sw = Stopwatch.StartNew();
    await Load.FillAsync(fullUrl, opts.Fill, 32);
    Console.WriteLine($"# filled {opts.Fill} taps in {sw.Elapsed.TotalSeconds:F0}s");
    await Load.WarmUpAsync(fullUrl, 8, opts.Warmup); // as warm as the service that ran the load
    // Both start settled: no checkpoint or autovacuum of fresh rows running underneath, and
    // planner statistics that know what is there.
    await settleEmpty();
    await settleFull();
    var (empty, full, ratios) = await Load.CreateLatencyPairedAsync(emptyUrl, fullUrl, opts.Samples, batches: 10);
    Line($"create latency {store,-8} with 0 present:     p50={Ms(empty.P50)} p99={Ms(empty.P99)}");
    Line($"create latency {store,-8} with {opts.Fill} present: p50={Ms(full.P50)} p99={Ms(full.P99)}");
    Line($"create latency {store,-8} ratio {opts.Fill}/0 p50 {full.P50 / empty.P50:F2} (target <= 1.20; per batch: {string.Join(" ", ratios.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))})");
}

// Event latency in several rounds (at least five): a p99 of one round on a shared 2-core machine is one bad second.
// The figure is the median round by p99, with every round's p99 beside it; lost and duplicated
// events are summed over all rounds.
async Task EventRoundsAsync(string url)
{
    // The create warm-up does not run the event path (numbering with a subscriber, the stream): an
    // unmeasured round first, so the first measured one does not measure the JIT.
    await Load.EventLatencyAsync(url, writers: 8, Math.Max(3, opts.Warmup / 4));
    var all = new List<Load.EventFigures>();
    for (var i = 0; i < Math.Max(opts.Rounds, 5); i++) // a p99 wants more rounds than a throughput
        all.Add(await Load.EventLatencyAsync(url, writers: 8, opts.Seconds));
    var ev = all.OrderBy(e => e.P99).ElementAt(all.Count / 2);
    var lost = all.Sum(e => e.Lost);
    var duplicated = all.Sum(e => e.Duplicated);
    string Each(Func<Load.EventFigures, double> f) => string.Join(" ", all.Select(e => f(e).ToString("F1", CultureInfo.InvariantCulture)));
    Line($"event latency written  postgres writers=8  events={ev.Events} p50={Ms(ev.P50)} p99={Ms(ev.P99)} lost={lost} duplicated={duplicated} (target p99 <= 50ms, none lost; p99 per round: {Each(e => e.P99)})");
    Line($"event latency answered postgres writers=8  events={ev.Events} p50={Ms(ev.AnsweredP50)} p99={Ms(ev.AnsweredP99)} (commit lies between the two; p99 per round: {Each(e => e.AnsweredP99)})");
}

// The median round by throughput: one noisy round on a shared 2-core machine does not make the figure.
async Task<Figures> Rounds(Func<Task<Figures>> round)
{
    var all = new List<Figures>();
    for (var i = 0; i < opts.Rounds; i++)
        all.Add(await round());
    return Median(all);
}

static Figures Median(List<Figures> all) => Figures.Median(all);

void Report(Figures f, string label) => Line(f.Format(label));

void Line(string s)
{
    Console.WriteLine(s);
    results.Add(s);
}

static string Ms(double ms) => string.Create(CultureInfo.InvariantCulture, $"{ms,7:F2}ms");

/// <summary>One point: operations (a create and a destroy) per second and latency percentiles of an operation.</summary>
internal sealed record Figures(double OpsPerSecond, double P50, double P99, long Errors)
{
    /// <summary>The service processes' CPU time (user and system) per operation, when it was measured.</summary>
    public double CpuMsPerOp { get; init; } = double.NaN;

    public static Figures From(List<double> latenciesMs, double seconds, long errors)
    {
        latenciesMs.Sort();
        return new Figures(latenciesMs.Count / seconds, Percentile(latenciesMs, 0.50), Percentile(latenciesMs, 0.99), errors);
    }

    /// <summary>The middle value; with an even count, the mean of the two middle ones.</summary>
    public static double MedianOf(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        var mid = sorted.Count / 2;
        return sorted.Count == 0 ? double.NaN : sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>The median round by throughput (the upper middle one of an even count), with the errors of all rounds.</summary>
    public static Figures Median(List<Figures> all) =>
        all.OrderBy(f => f.OpsPerSecond).ElementAt(all.Count / 2) with { Errors = all.Sum(f => f.Errors) };

    public string Format(string label) => string.Create(CultureInfo.InvariantCulture,
        $"{label} ops/s={OpsPerSecond,8:F1} p50={P50,7:F2}ms p99={P99,7:F2}ms errors={Errors}");

    /// <summary>As <see cref="Format"/>, with the median round's throughput and the median CPU per operation of all rounds.</summary>
    public static string FormatRounds(List<Figures> rounds, string label)
    {
        var cpu = MedianOf(rounds.Select(r => r.CpuMsPerOp));
        return Median(rounds).Format(label) + string.Create(CultureInfo.InvariantCulture, $" service-cpu/op={cpu:F2}ms");
    }

    public static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}

internal sealed record BenchOptions(string? Postgres, int[] Clients, int Seconds, int Fill, int Samples, int Rounds, int Warmup, string[] Only,
    int Sockets, string[] Runtimes, int Pairs)
{
    /// <summary>
    /// Parts: create (create+destroy vs pgbench), patch, events, latency (empty vs filled), sqlite,
    /// auth (keys on vs off), replicas (one service vs two on one database), memory (RSS idle and with
    /// open taps), runtime (create+destroy under each of --runtime's set-ups; not in the default run),
    /// contract (100 creates in one transaction against 100 single ones; a dry-run create against a real one),
    /// page (the lab page: from a create call to the picture showing it, in headless Chromium).
    /// </summary>
    public static readonly string[] Parts = ["create", "patch", "events", "latency", "sqlite", "auth", "replicas", "memory", "runtime", "contract", "vnets", "page"];

    /// <summary>What runs without <c>--only</c>: all but runtime, which compares set-ups one names.</summary>
    public static readonly string[] ByDefault = [.. Parts.Where(p => p != "runtime")];

    public bool Runs(string part) => Only.Contains(part);

    public static BenchOptions Parse(string[] args)
    {
        string? Get(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        return new BenchOptions(
            Get("--pg") ?? Environment.GetEnvironmentVariable("IFAPI_BENCH_POSTGRES"),
            (Get("--clients") ?? "1,8,32").Split(',').Select(int.Parse).ToArray(),
            int.Parse(Get("--seconds") ?? "10", CultureInfo.InvariantCulture),
            int.Parse(Get("--fill") ?? "30000", CultureInfo.InvariantCulture),
            int.Parse(Get("--samples") ?? "1000", CultureInfo.InvariantCulture),
            int.Parse(Get("--rounds") ?? "3", CultureInfo.InvariantCulture),
            int.Parse(Get("--warmup") ?? "20", CultureInfo.InvariantCulture),
            Get("--only")?.Split(',') is { } only
                ? only.All(Parts.Contains) ? only : throw new ArgumentException($"--only takes some of: {string.Join(",", Parts)}")
                : ByDefault,
            int.Parse(Get("--sockets") ?? "1000", CultureInfo.InvariantCulture),
            (Get("--runtime") ?? "default").Split(','),
            int.Parse(Get("--pairs") ?? "10", CultureInfo.InvariantCulture));
    }
}

internal static class Repo
{
    public static string Root()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "IfApi.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("IfApi.sln not found");
    }
}

/// <summary>The service as its own process, on loopback, as an operator would run it.</summary>
internal sealed class Service : IAsyncDisposable
{
    private readonly Process _process;

    private Service(Process process, string url) => (_process, Url) = (process, url);

    public string Url { get; }

    /// <summary>The service's process (<c>dotnet IfApi.dll</c> runs it in the host's own process).</summary>
    public int Pid => _process.Id;

    /// <summary>The CPU time the service has used so far, user and system, from /proc/PID/stat.</summary>
    public double CpuSeconds()
    {
        var stat = File.ReadAllText($"/proc/{Pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' '); // after the command name, which may hold spaces
        // utime and stime, fields 14 and 15 of the whole line, in clock ticks (USER_HZ, 100 on Linux).
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    /// <param name="env">More environment, e.g. <c>Auth__Keys__bench__Secret</c> or a <c>DOTNET_</c> runtime setting.</param>
    public static async Task<Service> StartAsync(string dll, string provider, string connection, IReadOnlyDictionary<string, string>? env = null)
    {
        var port = FreePort();
        var psi = new ProcessStartInfo("dotnet", [dll, "--urls", $"http://127.0.0.1:{port}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        psi.Environment["Database__Provider"] = provider;
        psi.Environment["ConnectionStrings__IfApi"] = connection;
        psi.Environment["Logging__LogLevel__Default"] = "Warning";
        psi.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (name, value) in env ?? new Dictionary<string, string>())
            psi.Environment[name] = value;
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"[service] {e.Data}"); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var svc = new Service(p, $"http://127.0.0.1:{port}");
        using var http = new HttpClient();
        for (var i = 0; i < 300; i++)
        {
            try
            {
                if ((await http.GetAsync($"{svc.Url}/readyz")).IsSuccessStatusCode)
                    return svc;
            }
            catch (HttpRequestException)
            {
            }
            if (p.HasExited)
                throw new InvalidOperationException($"the service exited with {p.ExitCode}");
            await Task.Delay(100);
        }
        throw new TimeoutException("the service did not become ready");
    }

    private static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public async ValueTask DisposeAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}

/// <summary>Where a load's URL reaches interfaces: a service's root (its caller's vnet), or a vnet's own <c>…/v1/vnets/NAME</c>.</summary>
internal static class Api
{
    public static string Interfaces(string url) => url.Contains("/v1/vnets/", StringComparison.Ordinal) ? url + "/interfaces" : url + "/v1/interfaces";
}

internal static class Load
{
    /// <param name="secret">An API key, sent as <c>Authorization: Bearer</c> with every request; none when the service is open.</param>
    public static HttpClient NewClient(string? secret = null)
    {
        var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024, UseProxy = false })
        {
            Timeout = TimeSpan.FromSeconds(60),
        };
        if (secret is not null)
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", secret);
        return http;
    }

    public static async Task<string?> CreateAsync(HttpClient http, string url, string name = "tap")
    {
        using var r = await http.PostAsync($"{Api.Interfaces(url)}", new StringContent($$"""{"name":"{{name}}"}""", Encoding.UTF8, "application/json"));
        if (r.StatusCode != HttpStatusCode.Created)
            return null;
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStreamAsync());
        return doc.RootElement.GetProperty("name").GetString();
    }

    /// <summary>
    /// Runs the service hot until its tiered JIT has settled: on two cores that takes tens of
    /// seconds, and a cold service would be measuring its compiler.
    /// </summary>
    public static async Task WarmUpAsync(string url, int clients, int seconds, string? secret = null) =>
        await WarmUpAsync([url], clients, seconds, secret);

    /// <summary>The same, with the clients split evenly across several services.</summary>
    public static async Task WarmUpAsync(IReadOnlyList<string> urls, int clients, int seconds, string? secret = null)
    {
        using var http = NewClient(secret);
        await RunAsync(http, urls, clients, TimeSpan.FromSeconds(seconds), []);
        await RunAsync(http, urls, urls.Count, TimeSpan.FromSeconds(Math.Max(1, seconds / 4)), []);
    }

    /// <summary>Each client creates a tap and destroys it, as fast as it can, for the given time.</summary>
    public static Task<Figures> CreateDestroyAsync(string url, int clients, int seconds, string? secret = null) =>
        CreateDestroyAsync([url], clients, seconds, secret);

    /// <summary>
    /// The same, client c talking to <c>urls[c % urls.Count]</c>. With <paramref name="cpuSeconds"/>
    /// (the services' CPU time so far), also the services' CPU time per operation.
    /// </summary>
    public static async Task<Figures> CreateDestroyAsync(IReadOnlyList<string> urls, int clients, int seconds, string? secret = null, Func<double>? cpuSeconds = null)
    {
        using var http = NewClient(secret);
        await RunAsync(http, urls, clients, TimeSpan.FromSeconds(1), []);
        var latencies = new List<double>[clients];
        var cpu = cpuSeconds?.Invoke();
        var sw = Stopwatch.StartNew();
        var errors = await RunAsync(http, urls, clients, TimeSpan.FromSeconds(seconds), latencies);
        var elapsed = sw.Elapsed.TotalSeconds;
        var all = latencies.SelectMany(l => l).ToList();
        var f = Figures.From(all, elapsed, errors);
        return cpuSeconds is null || all.Count == 0 ? f : f with { CpuMsPerOp = (cpuSeconds() - cpu!.Value) * 1000 / all.Count };
    }

    private static async Task<long> RunAsync(HttpClient http, IReadOnlyList<string> urls, int clients, TimeSpan duration, List<double>[] latencies)
    {
        long errors = 0;
        var until = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var url = urls[c % urls.Count];
            var mine = new List<double>(4096);
            while (Stopwatch.GetTimestamp() < until)
            {
                var t0 = Stopwatch.GetTimestamp();
                var name = await CreateAsync(http, url);
                if (name is null)
                {
                    Interlocked.Increment(ref errors);
                    continue;
                }
                using var d = await http.DeleteAsync($"{Api.Interfaces(url)}/{name}");
                if (d.StatusCode != HttpStatusCode.NoContent)
                    Interlocked.Increment(ref errors);
                mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            if (latencies.Length > 0)
                latencies[c] = mine;
        })));
        return errors;
    }

    /// <summary>
    /// Latency of one create at a time on two services, alternating in batches (the tap each create
    /// made is destroyed between samples, untimed). Returns both sets and each batch pair's p50 ratio.
    /// </summary>
    public static async Task<(Figures A, Figures B, List<double> BatchRatios)> CreateLatencyPairedAsync(string a, string b, int samples, int batches)
    {
        using var http = NewClient();
        var all = (A: new List<double>(samples), B: new List<double>(samples));
        var ratios = new List<double>();
        long errors = 0;
        var perBatch = Math.Max(1, samples / batches);
        foreach (var url in new[] { a, b })
            await SampleAsync(url, 20); // connections open, caches warm
        for (var i = 0; i < batches; i++)
        {
            var (la, lb) = (await SampleAsync(a, perBatch), await SampleAsync(b, perBatch));
            all.A.AddRange(la);
            all.B.AddRange(lb);
            ratios.Add(Figures.From(lb, 1, 0).P50 / Figures.From(la, 1, 0).P50);
        }
        return (Figures.From(all.A, 1, errors), Figures.From(all.B, 1, errors), ratios);

        async Task<List<double>> SampleAsync(string url, int count)
        {
            var latencies = new List<double>(count);
            for (var i = 0; i < count; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                var name = await CreateAsync(http, url);
                var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                if (name is null)
                {
                    errors++;
                    continue;
                }
                latencies.Add(ms);
                (await http.DeleteAsync($"{Api.Interfaces(url)}/{name}")).Dispose();
            }
            return latencies;
        }
    }

    /// <summary>Each client changes an interface of its own (its metric) as fast as it can.</summary>
    public static async Task<Figures> PatchAsync(string url, int clients, int seconds)
    {
        using var http = NewClient();
        var names = new string[clients];
        for (var i = 0; i < clients; i++)
            names[i] = await CreateAsync(http, url) ?? throw new InvalidOperationException("a create failed");
        var latencies = new List<double>[clients];
        long errors = 0;
        var until = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var mine = new List<double>(4096);
            for (var n = 0; Stopwatch.GetTimestamp() < until; n++)
            {
                var t0 = Stopwatch.GetTimestamp();
                if (!await PatchAsync(http, url, names[c], n))
                    Interlocked.Increment(ref errors);
                mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            latencies[c] = mine;
        })));
        var elapsed = sw.Elapsed.TotalSeconds;
        foreach (var name in names)
            (await http.DeleteAsync($"{Api.Interfaces(url)}/{name}")).Dispose();
        return Figures.From(latencies.SelectMany(l => l).ToList(), elapsed, errors);
    }

    private static async Task<bool> PatchAsync(HttpClient http, string url, string name, int metric)
    {
        using var content = new StringContent($$"""{"metric":{{metric}}}""", Encoding.UTF8, "application/merge-patch+json");
        using var r = await http.PatchAsync($"{Api.Interfaces(url)}/{name}", content);
        return r.StatusCode == HttpStatusCode.OK;
    }

    /// <summary>Event latency: what one subscriber saw while the writers patched.</summary>
    /// <summary>Latency from the event's writing (before its commit: an upper bound) and from the writer's answer (after it: a lower bound).</summary>
    public sealed record EventFigures(int Events, double P50, double P99, double AnsweredP50, double AnsweredP99, long Lost, long Duplicated);

    /// <summary>
    /// One subscriber on /v1/events while <paramref name="writers"/> clients change attributes as fast
    /// as they can. An event's latency runs from its <c>at</c>, the time PostgreSQL wrote its row inside
    /// the change's transaction and so just before the commit, to its arrival here: an upper bound of
    /// commit to arrival. Every committed change must arrive exactly once, with ids one apart.
    /// </summary>
    public static async Task<EventFigures> EventLatencyAsync(string url, int writers, int seconds)
    {
        using var http = NewClient();
        var names = new string[writers];
        for (var i = 0; i < writers; i++)
            names[i] = await CreateAsync(http, url) ?? throw new InvalidOperationException("a create failed");
        await Task.Delay(1000); // the creates' own events are numbered and out of the way

        using var request = new HttpRequestMessage(HttpMethod.Get, $"{url}/v1/events");
        using var stream = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        var latencies = new List<double>();
        var arrivals = new List<(string Name, int Metric, DateTimeOffset At)>();
        var answered = new System.Collections.Concurrent.ConcurrentDictionary<(string, int), DateTimeOffset>();
        var ids = new List<long>();
        long changes = 0;
        var readAll = new TaskCompletionSource();
        long expected = long.MaxValue;
        // The subscriber reads on a thread of its own, as a separate program would: queued behind the
        // writers' continuations on this process's thread pool, it would measure the load generator.
        var subscriber = Task.Factory.StartNew(() =>
        {
            while (reader.ReadLine() is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal))
                    continue;
                var arrived = DateTimeOffset.UtcNow;
                using var doc = JsonDocument.Parse(line.AsMemory(6));
                var e = doc.RootElement;
                lock (ids)
                    ids.Add(e.GetProperty("id").GetInt64());
                if (e.GetProperty("type").GetString() != "interface-change")
                    continue;
                latencies.Add((arrived - e.GetProperty("at").GetDateTimeOffset()).TotalMilliseconds);
                var data = e.GetProperty("data");
                lock (ids)
                    arrivals.Add((data.GetProperty("name").GetString()!, data.GetProperty("changes").GetProperty("metric").GetInt32(), arrived));
                if (++changes >= Volatile.Read(ref expected))
                    readAll.TrySetResult();
            }
        }, TaskCreationOptions.LongRunning);

        long committed = 0;
        var until = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            for (var n = 1; Stopwatch.GetTimestamp() < until; n++)
            {
                if (!await PatchAsync(http, url, names[w], n))
                    continue;
                answered[(names[w], n)] = DateTimeOffset.UtcNow;
                Interlocked.Increment(ref committed);
            }
        })));
        Volatile.Write(ref expected, committed);
        if (Interlocked.Read(ref changes) >= committed)
            readAll.TrySetResult();
        await Task.WhenAny(readAll.Task, Task.Delay(TimeSpan.FromSeconds(10)));
        // What arrived for the changes made, before this benchmark's own clean-up writes more.
        List<long> got;
        List<(string Name, int Metric, DateTimeOffset At)> came;
        lock (ids)
            (got, came) = ([.. ids], [.. arrivals]);
        stream.Dispose();
        await Task.WhenAny(subscriber, Task.Delay(1000));

        foreach (var name in names)
            (await http.DeleteAsync($"{Api.Interfaces(url)}/{name}")).Dispose();
        var duplicated = got.Count - got.Distinct().Count();
        var gaps = got.Zip(got.Skip(1), (a, b) => b - a).Count(d => d != 1);
        // From the writer's answer (after the commit, so a lower bound): 0 when the event came first.
        var fromAnswer = came.Where(a => answered.ContainsKey((a.Name, a.Metric)))
            .Select(a => Math.Max(0, (a.At - answered[(a.Name, a.Metric)]).TotalMilliseconds)).Order().ToList();
        if (committed != changes || gaps > 0)
            Console.WriteLine($"# events: {committed} changes committed, {changes} change events received, {gaps} holes in the ids: "
                + string.Join(" ", got.Zip(got.Skip(1)).Where(p => p.Second - p.First != 1).Select(p => $"{p.First}->{p.Second}")));
        var sorted = latencies.Order().ToList();
        return new EventFigures((int)changes, Figures.Percentile(sorted, 0.50), Figures.Percentile(sorted, 0.99),
            Figures.Percentile(fromAnswer, 0.50), Figures.Percentile(fromAnswer, 0.99),
            Math.Max(0, committed - changes) + gaps, duplicated);
    }

    public static async Task FillAsync(string url, int count, int clients)
    {
        using var http = NewClient();
        var left = count;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Decrement(ref left) >= 0)
            {
                if (await CreateAsync(http, url) is null)
                    throw new InvalidOperationException("a fill create failed");
            }
        })));
    }
}

internal static class Sqlite
{
    public static async Task SettleAsync(string connection)
    {
        await using var conn = new Microsoft.Data.Sqlite.SqliteConnection(connection);
        await conn.OpenAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;";
        await cmd.ExecuteNonQueryAsync();
    }
}

internal static class Pg
{
    public static async Task SettleAsync(string connection)
    {
        await using var conn = new NpgsqlConnection(connection);
        await conn.OpenAsync();
        foreach (var sql in new[] { "VACUUM ANALYZE", "CHECKPOINT" })
        {
            await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 300 };
            await cmd.ExecuteNonQueryAsync();
        }
    }

    public static async Task<string> CreateDatabaseAsync(string server, string prefix)
    {
        var name = $"{prefix}_{DateTime.UtcNow:yyyyMMddHHmmss}";
        await using var conn = new NpgsqlConnection(server);
        await conn.OpenAsync();
        await using (var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", conn))
            await cmd.ExecuteNonQueryAsync();
        return new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString;
    }
}

/// <summary>
/// pgbench running a script of <c>bench/sql/</c> on the service's database: one run of the script is
/// one create and one destroy, as one HTTP operation of <see cref="Load.CreateDestroyAsync"/> is.
/// </summary>
internal static class PgBench
{
    /// <summary>The reference: the rows a create and a destroy write, with no lock shared between clients.</summary>
    public static string Reference => Path.Combine(Repo.Root(), "bench", "sql", "create-destroy.reference.sql");

    public static async Task<Figures> RunAsync(string connection, int clients, int seconds, string? script = null)
    {
        script ??= Reference;
        var cs = new NpgsqlConnectionStringBuilder(connection);
        var logDir = Directory.CreateTempSubdirectory("pgbench-");
        await using (var conn = new NpgsqlConnection(connection))
        {
            await conn.OpenAsync();
            // Indexes far above any the service hands out: the two never meet.
            await using var cmd = new NpgsqlCommand("CREATE SEQUENCE IF NOT EXISTS reference_index START 1000000000", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        var exe = File.Exists("/usr/bin/pgbench") ? "/usr/bin/pgbench" : "pgbench";
        string[] common = ["-h", cs.Host!, "-p", cs.Port.ToString(CultureInfo.InvariantCulture), "-U", cs.Username ?? "postgres", "-n",
            "-c", clients.ToString(CultureInfo.InvariantCulture), "-j", Math.Min(clients, 2).ToString(CultureInfo.InvariantCulture),
            // Prepared statements, as the service's connections prepare theirs (Max Auto Prepare).
            "-M", "prepared", "-f", script, "-D", $"flags={(int)InterfaceKind.Tap.DefaultFlags()}", "-D", $"mtu={InterfaceKind.Tap.DefaultMtu()}"];
        await Run(exe, [.. common, "-T", Math.Min(3, seconds).ToString(CultureInfo.InvariantCulture), cs.Database!]); // warm-up
        var output = await Run(exe, [.. common, "-T", seconds.ToString(CultureInfo.InvariantCulture), "-l", "--log-prefix", Path.Combine(logDir.FullName, "tx"), cs.Database!]);
        var latencies = new List<double>();
        foreach (var file in logDir.GetFiles("tx*"))
            foreach (var line in File.ReadLines(file.FullName))
                latencies.Add(long.Parse(line.Split(' ')[2], CultureInfo.InvariantCulture) / 1000.0);
        logDir.Delete(recursive: true);
        var failed = output.Contains("aborted", StringComparison.Ordinal) ? 1 : 0;
        return Figures.From(latencies, seconds, failed);
    }

    private static async Task<string> Run(string exe, string[] args)
    {
        var psi = new ProcessStartInfo(exe, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"pgbench failed ({p.ExitCode}): {await stderr}");
        return await stdout + await stderr;
    }
}
