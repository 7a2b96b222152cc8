using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

/// <summary>
/// Labs (SPEC §9): what a visitor waits for. The cloning open onto a bridge (<c>/v1/tap?bridge=</c>)
/// until the first frame it sends has reached the other member of the segment, 50 one after another
/// and 50 at once; and the warm start, the first open after a service reports ready against the
/// ones after it, over fresh services on both stores (target: within 2×).
/// </summary>
internal static class LabPart
{
    private const int Visitors = 50, Restarts = 5, Later = 10;

    public static async Task RunAsync(BenchOptions opts, string dll, string server, Action<string> line)
    {
        foreach (var provider in new[] { "Sqlite", "Postgres" })
            await WarmStartAsync(dll, provider, server, line);

        var db = await Pg.CreateDatabaseAsync(server, "ifapi_bench_lab");
        await using var svc = await Service.StartAsync(dll, "Postgres", db);
        using var http = new HttpClient { BaseAddress = new Uri(svc.Url) };
        var bridge = await NewBridgeAsync(http);
        await using var listener = await Listener.JoinAsync(svc.Url, bridge);
        for (var i = 0; i < 200; i++)
            await VisitAsync(svc.Url, bridge, listener, 1000 + i); // a lab that has been running: its code compiled

        var sequential = new List<double>();
        var cpu = svc.CpuSeconds();
        for (var i = 0; i < Visitors; i++)
            sequential.Add(await VisitAsync(svc.Url, bridge, listener, 100 + i));
        cpu = (svc.CpuSeconds() - cpu) * 1000 / Visitors;
        line(Format("lab open ?bridge= to first frame, one after another", sequential)
            + string.Create(CultureInfo.InvariantCulture, $" service-cpu/visit={cpu:F1}ms"));

        var concurrent = await Task.WhenAll(Enumerable.Range(0, Visitors).Select(i => VisitAsync(svc.Url, bridge, listener, 200 + i)));
        line(Format("lab open ?bridge= to first frame, all at once     ", [.. concurrent]));
    }

    /// <summary>Fresh services: the first cloning open after ready, against the ones after it.</summary>
    private static async Task WarmStartAsync(string dll, string provider, string server, Action<string> line)
    {
        var (firsts, laters, ratios) = (new List<double>(), new List<double>(), new List<double>());
        for (var r = 0; r < Restarts; r++)
        {
            var folder = Directory.CreateTempSubdirectory("ifapi-bench-lab-");
            try
            {
                var connection = provider == "Postgres"
                    ? await Pg.CreateDatabaseAsync(server, $"ifapi_bench_lab_start{r}")
                    : $"Data Source={Path.Combine(folder.FullName, "ifapi.db")}";
                await using var svc = await Service.StartAsync(dll, provider, connection);
                var first = await OpenAsync(svc.Url);
                var later = new List<double>();
                for (var i = 0; i < Later; i++)
                    later.Add(await OpenAsync(svc.Url));
                var median = Median(later);
                (firsts, laters, ratios) = ([.. firsts, first], [.. laters, median], [.. ratios, first / median]);
            }
            finally
            {
                folder.Delete(recursive: true);
            }
        }
        line(string.Create(CultureInfo.InvariantCulture,
            $"lab first open after ready {provider.ToLowerInvariant(),-8} first p50={Median(firsts),7:F1}ms later p50={Median(laters),6:F1}ms ratio first/later {Median(ratios):F2} ({Restarts} fresh services: {string.Join(" ", ratios.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))}; target <= 2)"));
    }

    /// <summary>A cloning open until its greeting, then closed: the time it takes to have a device.</summary>
    private static async Task<double> OpenAsync(string url)
    {
        var clock = Stopwatch.StartNew();
        using var socket = await ConnectAsync(url, "/v1/tap");
        await ReceiveAsync(socket); // {"name":"tapN"}
        var took = clock.Elapsed.TotalMilliseconds;
        await CloseAsync(socket);
        return took;
    }

    /// <summary>
    /// A visitor's wait: the upgrade to the bridge, then its first frame (a broadcast from a station of
    /// its own) until the member already there has it; then it leaves.
    /// </summary>
    private static async Task<double> VisitAsync(string url, string bridge, Listener listener, int station)
    {
        var heard = listener.Expect(station);
        var clock = Stopwatch.StartNew();
        using var socket = await ConnectAsync(url, $"/v1/tap?bridge={bridge}");
        await ReceiveAsync(socket); // {"name":"tapN"}
        await socket.SendAsync(Frame(station), WebSocketMessageType.Binary, true, CancellationToken.None);
        await heard.WaitAsync(TimeSpan.FromSeconds(60));
        var took = clock.Elapsed.TotalMilliseconds;
        await CloseAsync(socket);
        return took;
    }

    /// <summary>A broadcast ARP-sized frame from a locally administered address naming <paramref name="station"/>.</summary>
    private static byte[] Frame(int station)
    {
        var f = new byte[60];
        f.AsSpan(0, 6).Fill(0xff);
        (f[6], f[10], f[11]) = (0x02, (byte)(station >> 8), (byte)station);
        (f[12], f[13]) = (0x08, 0x06);
        return f;
    }

    private static async Task<ClientWebSocket> ConnectAsync(string url, string path)
    {
        var socket = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await socket.ConnectAsync(new Uri(url.Replace("http://", "ws://", StringComparison.Ordinal) + path), timeout.Token);
        return socket;
    }

    private static async Task<WebSocketReceiveResult> ReceiveAsync(WebSocket socket, byte[]? buffer = null)
    {
        buffer ??= new byte[2048];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        return await socket.ReceiveAsync(buffer, timeout.Token);
    }

    private static async Task CloseAsync(WebSocket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", timeout.Token);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
            socket.Abort();
        }
    }

    private static async Task<string> NewBridgeAsync(HttpClient http)
    {
        var r = await http.PostAsync("/v1/interfaces", new StringContent("""{"cloner":"bridge","up":true}""", Encoding.UTF8, "application/json"));
        var body = await r.Content.ReadAsStringAsync();
        if (!r.IsSuccessStatusCode)
            throw new InvalidOperationException($"creating the lab's bridge: {(int)r.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("name").GetString()!;
    }

    /// <summary>A member of the segment that tells each visitor's first frame apart by its source station.</summary>
    private sealed class Listener : IAsyncDisposable
    {
        private readonly ClientWebSocket _socket;
        private readonly ConcurrentDictionary<int, TaskCompletionSource> _expected = new();
        private readonly Task _loop;

        private Listener(ClientWebSocket socket)
        {
            _socket = socket;
            _loop = Task.Run(ReadAsync);
        }

        public static async Task<Listener> JoinAsync(string url, string bridge)
        {
            var socket = await ConnectAsync(url, $"/v1/tap?bridge={bridge}");
            await LabPart.ReceiveAsync(socket);
            return new Listener(socket);
        }

        public Task Expect(int station) =>
            _expected.GetOrAdd(station, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

        private async Task ReadAsync()
        {
            var buffer = new byte[16384];
            while (_socket.State == WebSocketState.Open)
            {
                WebSocketReceiveResult r;
                try
                {
                    r = await _socket.ReceiveAsync(buffer, CancellationToken.None);
                }
                catch (WebSocketException)
                {
                    return;
                }
                if (r.MessageType != WebSocketMessageType.Binary || r.Count < 14 || buffer[6] != 0x02)
                    continue;
                var station = (buffer[10] << 8) | buffer[11];
                if (_expected.TryRemove(station, out var tcs))
                    tcs.TrySetResult();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await CloseAsync(_socket);
            await _loop.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _socket.Dispose();
        }
    }

    private static double Median(IReadOnlyList<double> xs) => Percentile(xs, 0.5);

    private static double Percentile(IReadOnlyList<double> xs, double p)
    {
        var sorted = xs.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }

    private static string Format(string what, List<double> ms) => string.Create(CultureInfo.InvariantCulture,
        $"{what} postgres p50={Percentile(ms, 0.5),7:F1}ms p99={Percentile(ms, 0.99),7:F1}ms max={ms.Max(),7:F1}ms ({ms.Count} visitors)");
}
