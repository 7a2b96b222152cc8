using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Npgsql;

/// <summary>
/// Create+destroy under set-ups of the service side by side: API keys on against off, one replica
/// against two on one database, runtime settings. Rounds of the sides take turns, and a ratio is
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

    /// <summary>
    /// The same load against one service and against two on one database, the clients split evenly,
    /// then a check that allocation stayed exact: after the load, and after a create storm through
    /// both replicas that leaves interfaces standing, and its destroy.
    /// </summary>
    public static async Task ReplicasAsync(BenchOptions opts, string dll, string server, Action<string> line)
    {
        var clients = opts.Clients.Max();
        var db = await Pg.CreateDatabaseAsync(server, "ifapi_bench_replicas");
        await using var a = await Service.StartAsync(dll, "Postgres", db);
        await using var b = await Service.StartAsync(dll, "Postgres", db);
        string[] one = [a.Url], two = [a.Url, b.Url];
        double Cpu() => a.CpuSeconds() + b.CpuSeconds(); // both, the idle one too
        await Load.WarmUpAsync(two, clients, opts.Warmup);
        var pairs = opts.Pairs;
        var (ones, twos) = (new List<Figures>(), new List<Figures>());
        for (var r = 0; r < pairs; r++)
        {
            ones.Add(await Load.CreateDestroyAsync(one, clients, opts.Seconds, null, Cpu));
            twos.Add(await Load.CreateDestroyAsync(two, clients, opts.Seconds, null, Cpu));
        }
        line(Figures.FormatRounds(ones, $"create+destroy 1 replica  postgres clients={clients,-2}"));
        line(Figures.FormatRounds(twos, $"create+destroy 2 replicas postgres clients={clients,-2}"));
        line($"ratio 2 replicas/1      postgres clients={clients,-2} {PairedRatio(twos, ones)}");

        // Allocation: nothing may be left of the load, and a storm of creates through both replicas
        // must take units 0..n-1 exactly once each, as one service would.
        var problems = await Allocation.CheckAsync(db, expectTaps: 0);
        const int standing = 1000;
        var names = await CreateManyAsync(two, standing, clients);
        problems.AddRange(await Allocation.CheckAsync(db, expectTaps: standing));
        foreach (var url in two)
            problems.AddRange(await ListedAsync(url, standing));
        await DestroyManyAsync(two, names, clients);
        problems.AddRange(await Allocation.CheckAsync(db, expectTaps: 0));
        var errors = ones.Concat(twos).Sum(f => f.Errors);
        line($"allocation 2 replicas    postgres {(problems.Count == 0 && errors == 0 ? "exact" : "BROKEN")}: after the load, after {standing} creates through both (units 0..{standing - 1}, each once; each replica lists them all) and after their destroy; {errors} failed requests"
            + (problems.Count > 0 ? "; " + string.Join("; ", problems.Take(10)) : ""));
    }

    /// <summary>
    /// Create+destroy with a key, as in production, against one service per runtime set-up
    /// (<c>--runtime</c>), all on one database, rounds taking turns; each set-up against the first.
    /// </summary>
    public static async Task RuntimesAsync(BenchOptions opts, string dll, string server, Action<string> line)
    {
        var clients = opts.Clients.Max();
        var secret = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var db = await Pg.CreateDatabaseAsync(server, "ifapi_bench_runtime");
        var services = new List<Service>();
        try
        {
            foreach (var setup in opts.Runtimes)
            {
                services.Add(await Service.StartAsync(dll, "Postgres", db, new Dictionary<string, string>(RuntimeSetup.Environment(setup))
                {
                    ["Auth__Keys__bench__Secret"] = secret,
                    ["Auth__Keys__bench__Scopes"] = "read write admin tap",
                }));
            }
            foreach (var svc in services)
                await Load.WarmUpAsync(svc.Url, clients, opts.Warmup, secret);
            var rounds = services.Select(_ => new List<Figures>()).ToList();
            for (var r = 0; r < opts.Pairs; r++)
            {
                for (var i = 0; i < services.Count; i++)
                    rounds[i].Add(await Load.CreateDestroyAsync([services[i].Url], clients, opts.Seconds, secret, services[i].CpuSeconds));
            }
            for (var i = 0; i < services.Count; i++)
            {
                line(Figures.FormatRounds(rounds[i], $"create+destroy auth on  postgres clients={clients,-2} runtime {opts.Runtimes[i]}"));
                if (i > 0)
                {
                    line($"ratio {opts.Runtimes[i]}/{opts.Runtimes[0]} postgres clients={clients,-2} {PairedRatio(rounds[i], rounds[0])}");
                    line($"ratio {opts.Runtimes[i]}/{opts.Runtimes[0]} service-cpu/op {PairedRatio(rounds[i], rounds[0], f => f.CpuMsPerOp)}");
                }
            }
        }
        finally
        {
            foreach (var svc in services)
                await svc.DisposeAsync();
        }
    }

    /// <summary>The median of each pair's ratio (of throughput, or of <paramref name="of"/>), and every pair's beside it.</summary>
    internal static string PairedRatio(List<Figures> x, List<Figures> y, Func<Figures, double>? of = null)
    {
        of ??= f => f.OpsPerSecond;
        var ratios = x.Zip(y, (p, q) => of(p) / of(q)).ToList();
        return string.Create(CultureInfo.InvariantCulture,
            $"{Figures.MedianOf(ratios):F3} (median of {ratios.Count} paired rounds: {string.Join(" ", ratios.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)))})");
    }

    private static async Task<List<string>> CreateManyAsync(string[] urls, int count, int clients)
    {
        using var http = Load.NewClient();
        var names = new System.Collections.Concurrent.ConcurrentBag<string>();
        var left = count;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            while (Interlocked.Decrement(ref left) >= 0)
                names.Add(await Load.CreateAsync(http, urls[c % urls.Length]) ?? throw new InvalidOperationException("a create failed"));
        })));
        return [.. names];
    }

    private static async Task DestroyManyAsync(string[] urls, List<string> names, int clients)
    {
        using var http = Load.NewClient();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < names.Count)
            {
                using var r = await http.DeleteAsync($"{urls[c % urls.Length]}/v1/interfaces/{names[i]}");
                if (r.StatusCode != HttpStatusCode.NoContent)
                    throw new InvalidOperationException($"destroying {names[i]}: {(int)r.StatusCode}");
            }
        })));
    }

    /// <summary>What one replica lists (page by page) must be the taps 0..count-1, each with its unit.</summary>
    private static async Task<List<string>> ListedAsync(string url, int count)
    {
        using var http = Load.NewClient();
        var units = new List<int>();
        string? after = null;
        do
        {
            var page = $"{url}/v1/interfaces?cloner=tap&limit=1000" + (after is null ? "" : $"&after={Uri.EscapeDataString(after)}");
            using var doc = JsonDocument.Parse(await http.GetStringAsync(page));
            foreach (var item in doc.RootElement.GetProperty("items").EnumerateArray())
            {
                var unit = item.GetProperty("unit").GetInt32();
                if (item.GetProperty("name").GetString() != $"tap{unit}")
                    return [$"{url} lists {item.GetProperty("name").GetString()} with unit {unit}"];
                units.Add(unit);
            }
            after = doc.RootElement.TryGetProperty("next", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
        }
        while (after is not null);
        units.Sort();
        return units.SequenceEqual(Enumerable.Range(0, count)) ? [] : [$"{url} lists {units.Count} taps, not units 0..{count - 1} once each"];
    }
}

/// <summary>
/// The store read directly (as the tests' StoreInvariants do): for every pool, the units its
/// interfaces hold, its free units and its fresh ones are disjoint and cover the pool; no unit,
/// index or name twice.
/// </summary>
internal static class Allocation
{
    public static async Task<List<string>> CheckAsync(string connection, int expectTaps)
    {
        await using var conn = new NpgsqlConnection(connection);
        await conn.OpenAsync();
        // One snapshot for all three reads.
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead);
        var cloners = await ReadAsync(conn, "SELECT name, max_unit FROM cloners", r => (Name: r.GetString(0), MaxUnit: r.GetInt32(1)));
        var interfaces = await ReadAsync(conn, "SELECT name, cloner, unit, if_index FROM interfaces",
            r => (Name: r.GetString(0), Cloner: r.IsDBNull(1) ? null : r.GetString(1), Unit: r.IsDBNull(2) ? (int?)null : r.GetInt32(2), Index: r.GetInt32(3)));
        // Free runs: each free unit, and each pool's fresh units (never handed out) up to its end.
        var ranges = await ReadAsync(conn, "SELECT pool, unit::bigint, unit::bigint FROM free_units UNION ALL SELECT pool, fresh, hi::bigint FROM unit_pools WHERE fresh <= hi",
            r => (Pool: r.GetString(0), Lo: r.GetInt64(1), Hi: r.GetInt64(2)));
        var problems = new List<string>();
        if (interfaces.Select(i => i.Index).Distinct().Count() != interfaces.Count)
            problems.Add("an index is held twice");
        if (interfaces.Select(i => i.Name).Distinct().Count() != interfaces.Count)
            problems.Add("a name is held twice");
        foreach (var dup in interfaces.Where(i => i.Unit is not null).GroupBy(i => (i.Cloner, i.Unit)).Where(g => g.Count() > 1))
            problems.Add($"unit {dup.Key.Unit} of {dup.Key.Cloner} is held by {string.Join(", ", dup.Select(i => i.Name))}");
        foreach (var i in interfaces.Where(i => i.Cloner is not null && i.Unit is null))
            problems.Add($"{i.Name} has no unit");
        var taps = interfaces.Where(i => i.Cloner == "tap").Select(i => i.Unit ?? -1).Order().ToList();
        if (!taps.SequenceEqual(Enumerable.Range(0, expectTaps)))
            problems.Add($"the taps hold {taps.Count} units, not 0..{expectTaps - 1}");
        problems.AddRange(Covers("#ifindex", 1, int.MaxValue, interfaces.Select(i => i.Index), ranges));
        foreach (var c in cloners)
            problems.AddRange(Covers(c.Name, 0, c.MaxUnit, interfaces.Where(i => i.Cloner == c.Name && i.Unit is not null).Select(i => i.Unit!.Value), ranges));
        return problems;
    }

    private static IEnumerable<string> Covers(string pool, long lo, long hi, IEnumerable<int> allocated, List<(string Pool, long Lo, long Hi)> ranges)
    {
        var runs = ranges.Where(r => r.Pool == pool).Select(r => (r.Lo, r.Hi))
            .Concat(allocated.Select(u => (Lo: (long)u, Hi: (long)u)))
            .OrderBy(r => r.Lo);
        var next = lo;
        foreach (var (rlo, rhi) in runs)
        {
            if (rlo != next)
            {
                yield return $"pool {pool}: a unit or free run expected at {next}, found {rlo}..{rhi} (overlap or gap)";
                yield break;
            }
            next = rhi + 1;
        }
        if (next != hi + 1)
            yield return $"pool {pool}: covered up to {next - 1}, not {hi}";
    }

    private static async Task<List<T>> ReadAsync<T>(NpgsqlConnection conn, string sql, Func<NpgsqlDataReader, T> row)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<T>();
        while (await r.ReadAsync())
            rows.Add(row(r));
        return rows;
    }
}

/// <summary>
/// A runtime set-up of the service, as <c>--runtime</c> names it: "default" (as built), or runtime
/// settings as <c>Name=Value</c> joined by '+', each passed as <c>DOTNET_Name</c> (e.g. <c>gcServer=0</c>,
/// <c>GCConserveMemory=5+TieredPGO=0</c>; numbers are hexadecimal there, as the runtime reads them).
/// </summary>
internal static class RuntimeSetup
{
    public static Dictionary<string, string> Environment(string setup) =>
        setup == "default" ? [] : setup.Split('+').Select(kv => kv.Split('=', 2)).ToDictionary(kv => "DOTNET_" + kv[0], kv => kv[1]);
}
