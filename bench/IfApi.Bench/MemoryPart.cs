using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using System.Text;

/// <summary>
/// The service's resident memory idle, and idle again with a thousand tap devices open that have
/// carried frames: taps in pairs on bridges, every tap sending a few frames its partner receives.
/// Read from /proc/PID/status; nothing forces a collection. Each run is a fresh service process on
/// a fresh PostgreSQL database; the figures are medians of the runs.
/// </summary>
internal static class MemoryPart
{
    private static readonly int[] FrameSizes = [60, 590, 1514];

    /// <summary>
    /// Resident set in kB: all of it, its anonymous part (GC heap, native heaps, stacks), its
    /// file-backed part (mapped assemblies and libraries), its shared-memory part (the code the
    /// runtime compiles, mapped writable and executable through a shared memory file, counted once).
    /// </summary>
    internal sealed record Rss(long VmRss, long Anon, long File, long Shmem)
    {
        public static Rss Of(int pid)
        {
            long Get(string[] lines, string key) =>
                long.Parse(lines.First(l => l.StartsWith(key, StringComparison.Ordinal))[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            var status = System.IO.File.ReadAllLines($"/proc/{pid}/status");
            return new Rss(Get(status, "VmRSS:"), Get(status, "RssAnon:"), Get(status, "RssFile:"), Get(status, "RssShmem:"));
        }
    }

    /// <summary>
    /// RSS idle, idle again with the interfaces made but no device open, with the first
    /// <paramref name="Half"/> devices open, and with all <paramref name="Sockets"/>.
    /// </summary>
    private sealed record Sample(Rss Idle, Rss Made, Rss HalfOpen, Rss Open, int Half, int Sockets)
    {
        /// <summary>What the open devices cost: against the same service with the same interfaces, none open.</summary>
        public double PerSocketKb => (Open.VmRss - Made.VmRss) / (double)Sockets;
        public double PerSocketAnonKb => (Open.Anon - Made.Anon) / (double)Sockets;
        /// <summary>Everything since the fresh idle service, making the interfaces included.</summary>
        public double FromIdleKb => (Open.VmRss - Idle.VmRss) / (double)Sockets;
        public double MarginalKb => (Open.VmRss - HalfOpen.VmRss) / (double)(Sockets - Half);
        public double MarginalAnonKb => (Open.Anon - HalfOpen.Anon) / (double)(Sockets - Half);
    }

    public static async Task RunAsync(BenchOptions opts, string dll, string server, Action<string> line)
    {
        var runs = Math.Max(opts.Rounds, 3);
        var samples = opts.Runtimes.ToDictionary(c => c, _ => new List<Sample>());
        Console.WriteLine($"# memory: PostgreSQL store, {opts.Sockets} taps on {opts.Sockets / 2} bridges, {FrameSizes.Length} frames sent per tap; {runs} runs of: {string.Join(", ", opts.Runtimes)}");
        // The set-ups take turns within each run, so a machine that drifts moves all of them.
        for (var run = 0; run < runs; run++)
        {
            for (var i = 0; i < opts.Runtimes.Length; i++)
            {
                var config = opts.Runtimes[i];
                var s = await OnceAsync(dll, server, $"ifapi_bench_mem{run}_{i}", RuntimeSetup.Environment(config), opts.Sockets);
                samples[config].Add(s);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"# memory run {run + 1} {config}: idle VmRSS={Mb(s.Idle.VmRss)} RssAnon={Mb(s.Idle.Anon)} RssFile={Mb(s.Idle.File)} RssShmem={Mb(s.Idle.Shmem)}; made VmRSS={Mb(s.Made.VmRss)} RssAnon={Mb(s.Made.Anon)} RssShmem={Mb(s.Made.Shmem)}; open VmRSS={Mb(s.Open.VmRss)} RssAnon={Mb(s.Open.Anon)} RssFile={Mb(s.Open.File)} RssShmem={Mb(s.Open.Shmem)}; per socket {s.PerSocketKb:F1}KB, from idle {s.FromIdleKb:F1}KB, second half {s.MarginalKb:F1}KB"));
            }
        }
        foreach (var (config, all) in samples)
        {
            long Median(Func<Sample, long> f) => (long)Figures.MedianOf(all.Select(s => (double)f(s)));
            double MedianD(Func<Sample, double> f) => Figures.MedianOf(all.Select(f));
            string Each(Func<Sample, double> f) => string.Join(" ", all.Select(s => f(s).ToString("F1", CultureInfo.InvariantCulture)));
            line(string.Create(CultureInfo.InvariantCulture,
                $"memory postgres {config}: idle VmRSS={Mb(Median(s => s.Idle.VmRss))} RssAnon={Mb(Median(s => s.Idle.Anon))} (target <= 120MB; per run {Each(s => s.Idle.VmRss / 1024.0)})"));
            line(string.Create(CultureInfo.InvariantCulture,
                $"memory postgres {config}: {opts.Sockets} taps and {opts.Sockets / 2} bridges made, no device open VmRSS={Mb(Median(s => s.Made.VmRss))} RssAnon={Mb(Median(s => s.Made.Anon))} (per run {Each(s => s.Made.VmRss / 1024.0)})"));
            line(string.Create(CultureInfo.InvariantCulture,
                $"memory postgres {config}: {opts.Sockets} open idle taps VmRSS={Mb(Median(s => s.Open.VmRss))} RssAnon={Mb(Median(s => s.Open.Anon))} (per run {Each(s => s.Open.VmRss / 1024.0)})"));
            line(string.Create(CultureInfo.InvariantCulture,
                $"memory postgres {config}: per open idle socket VmRSS={MedianD(s => s.PerSocketKb):F1}KB RssAnon={MedianD(s => s.PerSocketAnonKb):F1}KB over the same service with the interfaces made (target <= 64KB; median of {all.Count} runs: {Each(s => s.PerSocketKb)})"));
            line(string.Create(CultureInfo.InvariantCulture,
                $"memory postgres {config}: per open idle socket counted from the fresh idle service, making the interfaces included VmRSS={MedianD(s => s.FromIdleKb):F1}KB (median of {all.Count} runs: {Each(s => s.FromIdleKb)})"));
            line(string.Create(CultureInfo.InvariantCulture,
                $"memory postgres {config}: per open idle socket, second {all[0].Sockets - all[0].Half} alone VmRSS={MedianD(s => s.MarginalKb):F1}KB RssAnon={MedianD(s => s.MarginalAnonKb):F1}KB (median of {all.Count} runs: {Each(s => s.MarginalKb)})"));
        }
    }

    private static string Mb(long kb) => string.Create(CultureInfo.InvariantCulture, $"{kb / 1024.0:F1}MB");

    private static async Task<Sample> OnceAsync(string dll, string server, string dbPrefix, Dictionary<string, string> env, int count)
    {
        var db = await Pg.CreateDatabaseAsync(server, dbPrefix);
        await using var svc = await Service.StartAsync(dll, "Postgres", db, env);
        var idle = await SettledAsync(svc.Pid);

        var taps = new string[count];
        var bridges = new string[count / 2];
        using (var http = Load.NewClient())
        {
            await ParallelAsync(count, 32, async i => taps[i] = await Load.CreateAsync(http, svc.Url) ?? throw new InvalidOperationException("a tap create failed"));
            await ParallelAsync(bridges.Length, 32, async i => bridges[i] = await Load.CreateAsync(http, svc.Url, "bridge") ?? throw new InvalidOperationException("a bridge create failed"));
            await ParallelAsync(bridges.Length * 2, 32, async i => Expect(await http.PutAsync($"{svc.Url}/v1/interfaces/{bridges[i / 2]}/members/{taps[i]}", null), HttpStatusCode.Created));
            await ParallelAsync(count + bridges.Length, 32, async i =>
            {
                using var up = new StringContent("""{"up":true}""", Encoding.UTF8, "application/merge-patch+json");
                Expect(await http.PatchAsync($"{svc.Url}/v1/interfaces/{(i < count ? taps[i] : bridges[i - count])}", up), HttpStatusCode.OK);
            });
        } // its connections close: what stays open is the devices
        var made = await SettledAsync(svc.Pid);

        // The devices open in two halves, each settling before RSS is read: the whole difference from
        // idle is the figure asked for; the second half alone is what one more socket costs once the
        // paths are compiled and the heap has grown to its working size.
        var sockets = new ClientWebSocket[bridges.Length * 2];
        var readers = new List<Task>();
        var ws = new Uri(svc.Url.Replace("http://", "ws://", StringComparison.Ordinal));
        var half = sockets.Length / 4 * 2; // whole pairs
        await OpenAndExchangeAsync(0, half);
        var halfOpen = await SettledAsync(svc.Pid);
        await OpenAndExchangeAsync(half, sockets.Length);
        var open = await SettledAsync(svc.Pid);
        foreach (var s in sockets)
            s.Abort();
        await Task.WhenAll(readers);
        foreach (var s in sockets)
            s.Dispose();
        return new Sample(idle, made, halfOpen, open, half, sockets.Length);

        // Opens taps [from, to), then tap i and its partner (i ^ 1), on one bridge, each send their
        // frames to the other's address; waits until every frame arrived.
        async Task OpenAndExchangeAsync(int from, int to)
        {
            await ParallelAsync(to - from, 32, async k =>
            {
                var socket = new ClientWebSocket();
                await socket.ConnectAsync(new Uri(ws, $"/v1/interfaces/{taps[from + k]}/tap"), CancellationToken.None);
                sockets[from + k] = socket;
            });
            long received = 0;
            var expected = (long)(to - from) * FrameSizes.Length;
            var allIn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            readers.AddRange(sockets[from..to].Select(s => Task.Run(async () =>
            {
                var buffer = new byte[2048];
                try
                {
                    while (true)
                    {
                        var r = await s.ReceiveAsync(buffer, CancellationToken.None);
                        if (r.MessageType == WebSocketMessageType.Close)
                            return;
                        if (r.EndOfMessage && r.MessageType == WebSocketMessageType.Binary && Interlocked.Increment(ref received) == expected)
                            allIn.TrySetResult();
                    }
                }
                catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
                {
                }
            })));
            await Task.WhenAll(Enumerable.Range(from, to - from).Select(i => Task.Run(async () =>
            {
                foreach (var size in FrameSizes)
                    await sockets[i].SendAsync(Frame(size, from: i, to: i ^ 1), WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
            })));
            await Task.WhenAny(allIn.Task, Task.Delay(TimeSpan.FromSeconds(30)));
            if (Interlocked.Read(ref received) != expected)
                Console.WriteLine($"# memory: {Interlocked.Read(ref received)} of {expected} frames arrived");
        }
    }

    /// <summary>
    /// RSS once the process is idle: at least 30 s after the last work, then until it moved less
    /// than 1% over 3 s (at most 80 s). Thirty seconds, because for that long after a burst tiered
    /// compilation goes on promoting the methods an idle service calls (the runtime's count of
    /// compiled methods rose by about 1,400 in the 35 s after start-up), and RSS moves with it.
    /// </summary>
    internal static async Task<Rss> SettledAsync(int pid)
    {
        var sw = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(30));
        var history = new List<Rss> { Rss.Of(pid) };
        while (sw.Elapsed < TimeSpan.FromSeconds(80))
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            history.Add(Rss.Of(pid));
            if (history.Count >= 4)
            {
                var window = history.TakeLast(4).Select(r => r.VmRss).ToList();
                if (window.Max() - window.Min() < window.Max() / 100)
                    break;
            }
        }
        return history[^1];
    }

    /// <summary>An Ethernet frame of <paramref name="size"/> bytes from station <paramref name="from"/> to station <paramref name="to"/>.</summary>
    private static byte[] Frame(int size, int from, int to)
    {
        var f = new byte[size];
        Mac(to).CopyTo(f, 0);
        Mac(from).CopyTo(f, 6);
        f[12] = 0x88; // local experimental EtherType
        f[13] = 0xB5;
        return f;

        static byte[] Mac(int n) => [0x02, 0x00, (byte)(n >> 24), (byte)(n >> 16), (byte)(n >> 8), (byte)n];
    }

    private static void Expect(HttpResponseMessage r, HttpStatusCode status)
    {
        using (r)
        {
            if (r.StatusCode != status)
                throw new InvalidOperationException($"{r.RequestMessage?.Method} {r.RequestMessage?.RequestUri}: {(int)r.StatusCode}, not {(int)status}");
        }
    }

    private static async Task ParallelAsync(int count, int width, Func<int, Task> work) =>
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = width }, async (i, _) => await work(i));
}
