using System.Globalization;
using System.Net;
using System.Security.Cryptography;

/// <summary>
/// Create+destroy under set-ups of the service side by side: API keys on against off. Rounds of the sides take turns, and a ratio is
/// the median of each pair's ratio, so the drift of a shared machine lands on both.
/// </summary>
internal static class ServiceParts
{
    /// <summary>
    /// One service with no keys (open) and one with a key, every request of its clients carrying it,
    /// both on one database of one server. Target: on within 5% of off.
    /// </summary>
    public static async Task AuthAsync(BenchOptions opts, string dll, string server, Action<string> line)
    {
        var clients = opts.Clients.Max();
        var secret = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var db = await Pg.CreateDatabaseAsync(server, "ifapi_bench_auth");
        await using var off = await Service.StartAsync(dll, "Postgres", db);
        await using var on = await Service.StartAsync(dll, "Postgres", db, new Dictionary<string, string>
        {
            ["Auth__Keys__bench__Secret"] = secret,
            ["Auth__Keys__bench__Scopes"] = "read write admin tap",
        });
        using (var anonymous = Load.NewClient())
        using (var r = await anonymous.PostAsync($"{on.Url}/v1/interfaces", new StringContent("""{"name":"tap"}""", System.Text.Encoding.UTF8, "application/json")))
        {
            if (r.StatusCode != HttpStatusCode.Unauthorized)
                throw new InvalidOperationException($"a create without the key got {(int)r.StatusCode} from the service with keys, not 401");
        }
        await Load.WarmUpAsync(off.Url, clients, opts.Warmup);
        await Load.WarmUpAsync(on.Url, clients, opts.Warmup, secret);
        var pairs = opts.Pairs;
        var (offs, ons) = (new List<Figures>(), new List<Figures>());
        for (var r = 0; r < pairs; r++)
        {
            offs.Add(await Load.CreateDestroyAsync([off.Url], clients, opts.Seconds, null, off.CpuSeconds));
            ons.Add(await Load.CreateDestroyAsync([on.Url], clients, opts.Seconds, secret, on.CpuSeconds));
        }
        line(Figures.FormatRounds(offs, $"create+destroy auth off postgres clients={clients,-2}"));
        line(Figures.FormatRounds(ons, $"create+destroy auth on  postgres clients={clients,-2}"));
        line($"ratio auth on/off       postgres clients={clients,-2} {PairedRatio(ons, offs)} (target >= 0.95)");
        line($"ratio auth on/off service-cpu/op     clients={clients,-2} {PairedRatio(ons, offs, f => f.CpuMsPerOp)}");
    }

    /// <summary>The median of each pair's ratio (of throughput, or of <paramref name="of"/>), and every pair's beside it.</summary>
    private static string PairedRatio(List<Figures> x, List<Figures> y, Func<Figures, double>? of = null)
    {
        of ??= f => f.OpsPerSecond;
        var ratios = x.Zip(y, (p, q) => of(p) / of(q)).ToList();
        var sorted = ratios.Order().ToList();
        return string.Create(CultureInfo.InvariantCulture,
            $"{sorted[sorted.Count / 2]:F3} (median of {ratios.Count} paired rounds: {string.Join(" ", ratios.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)))})");
    }
}
