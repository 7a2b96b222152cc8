// Frames between replicas (SPEC §7), against the two things they are measured by, in one run on one
// nats-server: two service processes on one PostgreSQL with frames crossing through NATS; A's device
// on replica one and B's on replica two (across), A's and B's both on replica one (one replica), and
// NATS.Net publishing to a subscriber in another process with nothing of IfApi between (raw NATS).
// A sends to B as fast as B takes them, at most --window frames (messages) in flight; B has spoken
// once, so the bridge sends to it unicast. 64- and 1514-byte frames, plain and batched framing.
// Rounds alternate across, one replica and raw; the figures are medians of --rounds rounds.
//   bench/crossing.sh [--seconds 5] [--rounds 3] [--window 512] [--cases plain:64,batched:1514]
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using NATS.Client.Core;

string? Get(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();

if (Get("--raw-subscriber") is { } subscriberUrl)
{
    await RawNats.SubscribeAsync(subscriberUrl, Get("--subject")!, int.Parse(Get("--window")!, CultureInfo.InvariantCulture));
    return;
}

var seconds = int.Parse(Get("--seconds") ?? "5", CultureInfo.InvariantCulture);
var rounds = int.Parse(Get("--rounds") ?? "3", CultureInfo.InvariantCulture);
var window = int.Parse(Get("--window") ?? "512", CultureInfo.InvariantCulture);
var postgres = Get("--postgres") ?? throw new ArgumentException("--postgres CONNECTION-STRING");
var nats = Get("--nats") ?? throw new ArgumentException("--nats URL");
var cases = (Get("--cases") ?? "plain:64,batched:64,plain:1514,batched:1514").Split(',')
    .Select(c => c.Split(':')).Select(c => (Batched: c[0] == "batched", Size: int.Parse(c[1], CultureInfo.InvariantCulture))).ToList();

await using var one = await Replica.StartAsync(postgres, nats, "one");
await using var two = await Replica.StartAsync(postgres, nats, "two");
using var http = new HttpClient { BaseAddress = one.Url };

async Task<string> Create(string cloner)
{
    var r = await http.PostAsJsonAsync("/v1/interfaces", new { name = cloner });
    r.EnsureSuccessStatusCode();
    var name = (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("name").GetString()!;
    (await http.PatchAsync($"/v1/interfaces/{name}", JsonContent.Create(new { up = true }))).EnsureSuccessStatusCode();
    return name;
}

async Task<(string Tx, string Rx)> Segment()
{
    var bridge = await Create("bridge");
    var (tx, rx) = (await Create("tap"), await Create("tap"));
    foreach (var m in new[] { tx, rx })
        (await http.PutAsync($"/v1/interfaces/{bridge}/members/{m}", null)).EnsureSuccessStatusCode();
    return (tx, rx);
}

var across = await Segment();
var local = await Segment();
await using var raw = await RawNats.StartAsync(nats, window);

Console.WriteLine($"# frames A -> B through one bridge: {Environment.ProcessorCount} cores; two replicas on one PostgreSQL, one nats-server, clients in this process; window {window} frames in flight; medians of {rounds} rounds of {seconds}s");
Console.WriteLine("# across: A's device on replica one, B's on replica two; one replica: both on replica one; raw NATS: NATS.Net publish -> subscribe in another process, one message per frame, same window");
var results = new Dictionary<string, List<Figures>>();
foreach (var (batched, size) in cases)
{
    using var atx = await Device.OpenAsync(one.Url, across.Tx, batched);
    using var arx = await Device.OpenAsync(two.Url, across.Rx, batched);
    using var ltx = await Device.OpenAsync(one.Url, local.Tx, batched);
    using var lrx = await Device.OpenAsync(one.Url, local.Rx, batched);
    arx.Announce();
    lrx.Announce();
    await Task.Delay(200);
    // Warm-up: JIT in all three processes, pools, the learning tables.
    await new FrameRun(atx, arx, size, window, 64).RunAsync(TimeSpan.FromSeconds(1));
    await new FrameRun(ltx, lrx, size, window, 64).RunAsync(TimeSpan.FromSeconds(1));
    await raw.RunAsync(size, TimeSpan.FromSeconds(1));
    var framing = batched ? "batched" : "plain";
    for (var r = 0; r < rounds; r++)
    {
        var drops = await one.CrossingDropsAsync() + await two.CrossingDropsAsync();
        var f = await new FrameRun(atx, arx, size, window, 64).RunAsync(TimeSpan.FromSeconds(seconds));
        drops = await one.CrossingDropsAsync() + await two.CrossingDropsAsync() - drops;
        Add($"across {framing} {size}", f with { Drops = f.Drops + drops });
        Add($"one {framing} {size}", await new FrameRun(ltx, lrx, size, window, 64).RunAsync(TimeSpan.FromSeconds(seconds)));
        Add($"raw {size}", await raw.RunAsync(size, TimeSpan.FromSeconds(seconds)));
    }
    Print($"across  {framing,-7}", $"across {framing} {size}", size);
    Print($"one     {framing,-7}", $"one {framing} {size}", size);
}
foreach (var size in cases.Select(c => c.Size).Distinct())
    Print("raw NATS       ", $"raw {size}", size);

Console.WriteLine();
foreach (var (batched, size) in cases)
{
    var framing = batched ? "batched" : "plain";
    var a = Median($"across {framing} {size}").FramesPerSecond;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"ratio {framing,-7} {size,4} B: across/raw NATS {a / Median($"raw {size}").FramesPerSecond:F2}x{(size == 1514 ? " (target >= 0.5)" : "")}, across/one replica {a / Median($"one {framing} {size}").FramesPerSecond:F2}x{(batched && size == 64 ? " (target >= 0.3)" : "")}"));
}

void Add(string key, Figures f) => (results.TryGetValue(key, out var l) ? l : results[key] = []).Add(f);

Figures Median(string key) => results[key].OrderBy(x => x.FramesPerSecond).ElementAt(results[key].Count / 2);

void Print(string label, string key, int size)
{
    var m = Median(key);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{label} {size,4} B: {m.FramesPerSecond,9:N0} frames/s {m.Mbps,7:N0} Mbit/s  p50 {m.P50Us,8:N1} us  p99 {m.P99Us,8:N1} us  drops {m.Drops}  (rounds: {string.Join(" ", results[key].Select(x => x.FramesPerSecond.ToString("N0", CultureInfo.InvariantCulture)))})"));
}

/// <summary>A service process, one replica of the store, with frames crossing through NATS.</summary>
internal sealed class Replica : IAsyncDisposable
{
    private readonly Process _process;
    private readonly HttpClient _http;

    private Replica(Process process, Uri url) => (_process, Url, _http) = (process, url, new HttpClient { BaseAddress = url });

    public Uri Url { get; }

    public static async Task<Replica> StartAsync(string postgres, string nats, string name)
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "IfApi.sln")))
            root = root.Parent;
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(root!.FullName, "src", "IfApi", "bin", "Release", "net10.0", "IfApi.dll") },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
                ["Database__Provider"] = "Postgres",
                ["ConnectionStrings__IfApi"] = postgres,
                ["Frames__Nats__Url"] = nats,
                ["Logging__LogLevel__Default"] = "Warning",
            },
        };
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is { } line) Console.Error.WriteLine($"[{name}] {line}"); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) Console.Error.WriteLine($"[{name}] {line}"); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var replica = new Replica(process, new Uri($"http://127.0.0.1:{port}"));
        for (var i = 0; ; i++)
        {
            try
            {
                if ((await replica._http.GetAsync("/readyz")).IsSuccessStatusCode)
                    return replica;
            }
            catch (HttpRequestException) when (i < 300 && !process.HasExited)
            {
            }
            await Task.Delay(200);
        }
    }

    /// <summary>Frames this replica dropped on their way to or from another, for every reason.</summary>
    public async Task<long> CrossingDropsAsync()
    {
        var text = await _http.GetStringAsync("/metrics");
        return (long)text.Split('\n').Where(l => l.StartsWith("ifapi_crossing_drops_total", StringComparison.Ordinal))
            .Sum(l => double.Parse(l.Split(' ')[1], CultureInfo.InvariantCulture));
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}

/// <summary>
/// The engine's own rate: NATS.Net publishing from this process to a subscriber in another, one
/// message per frame, with the frame runs' window: the subscriber says every half window how many
/// it has, and the publisher keeps at most a window unanswered. Each message carries its send time;
/// the subscriber measures latency against the same monotonic clock.
/// </summary>
internal sealed class RawNats : IAsyncDisposable
{
    private readonly NatsConnection _nats;
    private readonly Process _subscriber;
    private readonly string _subject;
    private readonly int _window;
    private readonly INatsSub<byte[]> _answers;
    private long _acknowledged;
    private readonly SemaphoreSlim _room = new(0, int.MaxValue);
    private TaskCompletionSource<string> _final = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private RawNats(NatsConnection nats, Process subscriber, string subject, int window, INatsSub<byte[]> answers) =>
        (_nats, _subscriber, _subject, _window, _answers) = (nats, subscriber, subject, window, answers);

    public static async Task<RawNats> StartAsync(string url, int window)
    {
        var nats = new NatsConnection(NatsOpts.Default with { Url = url, SubPendingChannelCapacity = 1 << 16 });
        await nats.ConnectAsync();
        var subject = $"bench.raw.{Guid.NewGuid():N}";
        var answers = await nats.SubscribeCoreAsync<byte[]>(subject + ".answer");
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { typeof(RawNats).Assembly.Location, "--raw-subscriber", url, "--subject", subject, "--window", window.ToString(CultureInfo.InvariantCulture) },
            RedirectStandardOutput = true,
        };
        var subscriber = Process.Start(start)!;
        var ready = await subscriber.StandardOutput.ReadLineAsync(); // "ready" once it is subscribed
        if (ready != "ready")
            throw new InvalidOperationException("the raw subscriber did not start");
        var raw = new RawNats(nats, subscriber, subject, window, answers);
        _ = Task.Run(raw.ReadAnswersAsync);
        return raw;
    }

    private async Task ReadAnswersAsync()
    {
        await foreach (var msg in _answers.Msgs.ReadAllAsync())
        {
            var data = msg.Data!;
            if (data.Length == 8)
            {
                Volatile.Write(ref _acknowledged, BinaryPrimitives.ReadInt64BigEndian(data));
                _room.Release();
            }
            else
                _final.TrySetResult(Encoding.ASCII.GetString(data));
        }
    }

    public async Task<Figures> RunAsync(int size, TimeSpan duration)
    {
        Volatile.Write(ref _acknowledged, 0);
        _final = new(TaskCreationOptions.RunContinuationsAsynchronously);
        var payload = new byte[size];
        long sent = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            var room = _window - (sent - Volatile.Read(ref _acknowledged));
            if (room <= 0)
            {
                await _room.WaitAsync(TimeSpan.FromMilliseconds(100));
                continue;
            }
            for (var i = 0; i < Math.Min(room, 64); i++, sent++)
            {
                BinaryPrimitives.WriteInt64BigEndian(payload, Stopwatch.GetTimestamp());
                await _nats.PublishAsync(_subject, payload);
            }
        }
        BinaryPrimitives.WriteInt64BigEndian(payload, -1); // the end: the subscriber answers what it got
        await _nats.PublishAsync(_subject, payload);
        var final = (await _final.Task.WaitAsync(TimeSpan.FromSeconds(10))).Split(' ');
        var elapsed = clock.Elapsed.TotalSeconds;
        var received = long.Parse(final[0], CultureInfo.InvariantCulture);
        while (_room.CurrentCount > 0)
            await _room.WaitAsync();
        return new Figures(received / elapsed, received * size * 8 / elapsed / 1e6,
            double.Parse(final[1], CultureInfo.InvariantCulture), double.Parse(final[2], CultureInfo.InvariantCulture), sent - received, 0);
    }

    /// <summary>The subscriber process: counts and times messages, answers every half window and at the end.</summary>
    public static async Task SubscribeAsync(string url, string subject, int window)
    {
        await using var nats = new NatsConnection(NatsOpts.Default with { Url = url, SubPendingChannelCapacity = 1 << 16 });
        await nats.ConnectAsync();
        await using var sub = await nats.SubscribeCoreAsync<NatsMemoryOwner<byte>>(subject);
        await nats.PingAsync();
        Console.WriteLine("ready");
        var latencies = new List<long>(1 << 20);
        var count = 0L;
        var answer = new byte[8];
        await foreach (var msg in sub.Msgs.ReadAllAsync())
        {
            using var data = msg.Data;
            var sentAt = BinaryPrimitives.ReadInt64BigEndian(data.Memory.Span);
            if (sentAt >= 0)
            {
                latencies.Add(Stopwatch.GetTimestamp() - sentAt);
                if (++count % Math.Max(1, window / 2) == 0)
                {
                    BinaryPrimitives.WriteInt64BigEndian(answer, count);
                    await nats.PublishAsync(subject + ".answer", answer);
                }
                continue;
            }
            latencies.Sort();
            double Us(double q) => latencies.Count == 0 ? 0 : latencies[(int)(q * (latencies.Count - 1))] * 1e6 / Stopwatch.Frequency;
            await nats.PublishAsync(subject + ".answer", Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{count} {Us(0.5):F1} {Us(0.99):F1}")));
            (count, latencies) = (0, new List<long>(1 << 20));
        }
    }

    public async ValueTask DisposeAsync()
    {
        _subscriber.Kill();
        await _subscriber.WaitForExitAsync();
        await _answers.DisposeAsync();
        await _nats.DisposeAsync();
    }
}
