using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

/// <summary>
/// Vnets (SPEC §6) against the host's stack, on PostgreSQL: create+destroy inside a vnet against the
/// same in <c>host</c> (rounds alternating; target ≥ 0.95), create latency in a vnet of a store holding
/// 200 vnets of 100 interfaces each against one of an empty store (batches alternating; target ≤ 1.2),
/// and idle memory with those 200 vnets against none.
/// </summary>
internal static class VnetPart
{
    private const int Vnets = 200, PerVnet = 100;

    public static async Task RunAsync(BenchOptions opts, string dll, string server, Action<string> line)
    {
        var clients = opts.Clients.Max();
        var db = await Pg.CreateDatabaseAsync(server, "ifapi_bench_vnets");
        await using (var svc = await Service.StartAsync(dll, "Postgres", db))
        {
            await CreateVnetAsync(svc.Url, "bench");
            var inVnet = $"{svc.Url}/v1/vnets/bench";
            await Load.WarmUpAsync([svc.Url, inVnet], clients, opts.Warmup);
            var (hosts, vnets) = (new List<Figures>(), new List<Figures>());
            for (var r = 0; r < opts.Pairs; r++)
            {
                hosts.Add(await Load.CreateDestroyAsync([svc.Url], clients, opts.Seconds, null, svc.CpuSeconds));
                vnets.Add(await Load.CreateDestroyAsync([inVnet], clients, opts.Seconds, null, svc.CpuSeconds));
            }
            line(Figures.FormatRounds(hosts, $"create+destroy in host      postgres clients={clients,-2}"));
            line(Figures.FormatRounds(vnets, $"create+destroy in a vnet    postgres clients={clients,-2}"));
            line($"ratio vnet/host            postgres clients={clients,-2} {ServiceParts.PairedRatio(vnets, hosts)} (target >= 0.95)");
            line($"ratio vnet/host service-cpu/op     clients={clients,-2} {ServiceParts.PairedRatio(vnets, hosts, f => f.CpuMsPerOp)}");
        }

        // Latency and memory: two fresh services, one on an empty store and one on a full one.
        var emptyDb = await Pg.CreateDatabaseAsync(server, "ifapi_bench_vnets_empty");
        var fullDb = await Pg.CreateDatabaseAsync(server, "ifapi_bench_vnets_full");
        await using var empty = await Service.StartAsync(dll, "Postgres", emptyDb);
        await using var full = await Service.StartAsync(dll, "Postgres", fullDb);
        var idleEmpty = await MemoryPart.SettledAsync(empty.Pid);
        var sw = Stopwatch.StartNew();
        using (var http = Load.NewClient())
        {
            for (var v = 0; v < Vnets; v++)
                await CreateVnetAsync(full.Url, $"lab{v}");
            await Parallel.ForEachAsync(Enumerable.Range(0, Vnets * PerVnet), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) =>
            {
                if (await Load.CreateAsync(http, $"{full.Url}/v1/vnets/lab{i % Vnets}") is null)
                    throw new InvalidOperationException("a fill create failed");
            });
        }
        Console.WriteLine($"# filled {Vnets} vnets of {PerVnet} taps in {sw.Elapsed.TotalSeconds:F0}s");
        // The same service restarted is what an idle one with 200 vnets is: no load's garbage in it.
        await using var restarted = await Service.StartAsync(dll, "Postgres", fullDb);
        var idleFull = await MemoryPart.SettledAsync(restarted.Pid);
        await CreateVnetAsync(empty.Url, "lab0");
        await Load.WarmUpAsync([$"{empty.Url}/v1/vnets/lab0", $"{restarted.Url}/v1/vnets/lab0"], 8, opts.Warmup);
        await Pg.SettleAsync(emptyDb);
        await Pg.SettleAsync(fullDb);
        var (a, b, ratios) = await Load.CreateLatencyPairedAsync($"{empty.Url}/v1/vnets/lab0", $"{restarted.Url}/v1/vnets/lab0", opts.Samples, batches: 10);
        line($"create latency in a vnet, empty store:                     p50={Ms(a.P50)} p99={Ms(a.P99)}");
        line($"create latency in a vnet, {Vnets} vnets of {PerVnet} interfaces:       p50={Ms(b.P50)} p99={Ms(b.P99)}");
        line(string.Create(CultureInfo.InvariantCulture,
            $"create latency ratio full/empty p50 {b.P50 / a.P50:F2} (target <= 1.20; per batch: {string.Join(" ", ratios.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))})"));
        line(string.Create(CultureInfo.InvariantCulture,
            $"idle memory with {Vnets} vnets of {PerVnet} interfaces: VmRSS={idleFull.VmRss / 1024.0:F1}MB RssAnon={idleFull.Anon / 1024.0:F1}MB; with none: VmRSS={idleEmpty.VmRss / 1024.0:F1}MB RssAnon={idleEmpty.Anon / 1024.0:F1}MB; ratio {idleFull.VmRss / (double)idleEmpty.VmRss:F2}"));
    }

    private static async Task CreateVnetAsync(string url, string name)
    {
        using var http = Load.NewClient();
        using var r = await http.PostAsync($"{url}/v1/vnets", new StringContent($$"""{"name":"{{name}}"}""", Encoding.UTF8, "application/json"));
        if (r.StatusCode != HttpStatusCode.Created)
            throw new InvalidOperationException($"creating vnet {name}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
    }

    private static string Ms(double ms) => ms.ToString("F2", CultureInfo.InvariantCulture) + "ms";
}
