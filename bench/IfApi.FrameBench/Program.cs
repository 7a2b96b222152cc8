// The frame path's benchmark: the service in this process on a loopback port, two WebSocket
// clients on one bridge, A sending to B as fast as B takes them (at most --window frames in flight,
// fewer than the transmit queue holds, so a drop would be a fault), 64- and 1514-byte frames, the
// plain and the batched framing. Figures per case are medians of --rounds rounds of --seconds.
//   bench/frames.sh [--seconds 5] [--rounds 3] [--window 512]
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using System.Threading.Tasks.Sources;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

string? Get(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
var seconds = int.Parse(Get("--seconds") ?? "5", CultureInfo.InvariantCulture);
var rounds = int.Parse(Get("--rounds") ?? "3", CultureInfo.InvariantCulture);
var window = int.Parse(Get("--window") ?? "512", CultureInfo.InvariantCulture);
using var allocations = args.Contains("--alloc-types") ? new AllocationSampler() : null; // what allocates, by type, sampled

var dir = Directory.CreateTempSubdirectory("ifapi-frames");
var root = new DirectoryInfo(AppContext.BaseDirectory);
while (root is not null && !File.Exists(Path.Combine(root.FullName, "IfApi.sln")))
    root = root.Parent;
Environment.SetEnvironmentVariable("ASPNETCORE_TEST_CONTENTROOT_IFAPI", Path.Combine(root!.FullName, "src", "IfApi"));
// Any type of the service's assembly names it: this assembly has a Program of its own.
await using var factory = new WebApplicationFactory<IfApi.Tap.TapSession>().WithWebHostBuilder(b =>
{
    b.UseSetting("ConnectionStrings:IfApi", $"Data Source={Path.Combine(dir.FullName, "ifapi.db")}");
    b.UseSetting("Logging:LogLevel:Default", "Warning");
});
factory.UseKestrel(0);
factory.StartServer();
using var http = factory.CreateClient();

async Task<string> Create(string name, bool up = true)
{
    var r = await http.PostAsJsonAsync("/v1/interfaces", new { name });
    r.EnsureSuccessStatusCode();
    var created = (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("name").GetString()!;
    if (up)
        (await http.PatchAsync($"/v1/interfaces/{created}", JsonContent.Create(new { up = true }))).EnsureSuccessStatusCode();
    return created;
}

var bridge = await Create("bridge");
var (a, b) = (await Create("tap"), await Create("tap"));
foreach (var m in new[] { a, b })
    (await http.PutAsync($"/v1/interfaces/{bridge}/members/{m}", null)).EnsureSuccessStatusCode();

async Task<long> Oqdrops(string name) =>
    (await http.GetFromJsonAsync<JsonElement>($"/v1/interfaces/{name}")).GetProperty("stats").GetProperty("oqdrops").GetInt64();

Console.WriteLine($"# frames A -> B through {bridge}: {Environment.ProcessorCount} cores, service and clients in one process, window {window} frames, medians of {rounds} rounds of {seconds}s");
Console.WriteLine("# bytes/frame: everything this process allocated (service, Kestrel and both clients) over the frames delivered");
// --cases plain:64,batched:1514 runs some of the four.
var cases = (Get("--cases") ?? "plain:64,plain:1514,batched:64,batched:1514").Split(',')
    .Select(c => c.Split(':')).Select(c => (Batched: c[0] == "batched", Size: int.Parse(c[1], CultureInfo.InvariantCulture)));
foreach (var (batched, size) in cases)
{
    {
        var results = new List<Figures>();
        var server = http.BaseAddress!;
        await using var tx = await Device.OpenAsync(server, a, batched);
        await using var rx = await Device.OpenAsync(server, b, batched);
        await new FrameRun(tx, rx, size, window).RunAsync(TimeSpan.FromSeconds(1)); // warm-up: JIT, pools, the learning table
        for (var r = 0; r < rounds; r++)
        {
            var drops = await Oqdrops(b);
            var f = await new FrameRun(tx, rx, size, window).RunAsync(TimeSpan.FromSeconds(seconds));
            results.Add(f with { Drops = f.Drops + await Oqdrops(b) - drops });
        }
        var m = results.OrderBy(x => x.FramesPerSecond).ElementAt(results.Count / 2);
        var name = batched ? "batched" : "plain  ";
        var target = batched ? 500_000 : 100_000;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"frames {name} {size,4} B: {m.FramesPerSecond,9:N0} frames/s {m.Mbps,8:N0} Mbit/s  p50 {m.P50Us,7:N1} us  p99 {m.P99Us,7:N1} us  drops {m.Drops}  {m.BytesPerFrame,6:N2} B/frame  (rounds: {string.Join(" ", results.Select(x => x.FramesPerSecond.ToString("N0", CultureInfo.InvariantCulture)))}; target >= {target:N0})"));
    }
}
allocations?.Print();
dir.Delete(recursive: true);

/// <summary>The runtime's allocation ticks (one about every 100 KB allocated), counted by type.</summary>
internal sealed class AllocationSampler : System.Diagnostics.Tracing.EventListener
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _ticks = new();

    protected override void OnEventSourceCreated(System.Diagnostics.Tracing.EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
            EnableEvents(source, System.Diagnostics.Tracing.EventLevel.Verbose, (System.Diagnostics.Tracing.EventKeywords)0x1);
    }

    protected override void OnEventWritten(System.Diagnostics.Tracing.EventWrittenEventArgs e)
    {
        if (e.EventName == "GCAllocationTick_V4" && e.PayloadNames?.IndexOf("TypeName") is int i and >= 0)
            _ticks.AddOrUpdate(e.Payload![i] as string ?? "?", 1, (_, n) => n + 1);
    }

    public void Print()
    {
        foreach (var (type, n) in _ticks.OrderByDescending(t => t.Value).Take(15))
            Console.WriteLine($"alloc ticks {n,6}  {type}");
    }
}

internal sealed record Figures(double FramesPerSecond, double Mbps, double P50Us, double P99Us, long Drops, double BytesPerFrame);

/// <summary>A tap's device from the client side, with the framing chosen.</summary>
internal sealed class Device : IAsyncDisposable
{
    public const string BatchProtocol = "ifapi.batch";
    public ClientWebSocket Socket { get; } = new();
    public bool Batched => Socket.SubProtocol == BatchProtocol;

    public static async Task<Device> OpenAsync(Uri server, string tap, bool batched)
    {
        var d = new Device();
        d.Socket.Options.SetBuffer(64 * 1024, 64 * 1024); // read many small messages per receive call
        if (batched)
            d.Socket.Options.AddSubProtocol(BatchProtocol);
        await d.Socket.ConnectAsync(new UriBuilder(server) { Scheme = "ws", Path = $"/v1/interfaces/{tap}/tap" }.Uri, CancellationToken.None);
        return d;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }
        catch (WebSocketException)
        {
        }
        Socket.Dispose();
    }
}

/// <summary>
/// One measurement. Each frame carries its send time; the receiver records one latency per frame
/// into an array allocated up front, and wakes the sender through a reusable signal, so that the
/// clients themselves allocate nothing per frame.
/// </summary>
internal sealed class FrameRun(Device tx, Device rx, int size, int window)
{
    private const int MaxSamples = 1 << 22;
    private const int MaxBatch = 64 * 1024;
    private readonly long[] _latency = new long[MaxSamples];
    private long _sent, _received;
    private volatile bool _stop;
    private readonly Signal _room = new();

    public async Task<Figures> RunAsync(TimeSpan duration)
    {
        GC.Collect();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        var receiver = Task.Run(ReceiveAsync);
        var sender = Task.Run(SendAsync);
        await Task.Delay(duration);
        _stop = true;
        await sender;
        // What was sent is let through before the count is read: whatever does not come is a drop.
        var deadline = Stopwatch.StartNew();
        while (Volatile.Read(ref _received) < Volatile.Read(ref _sent) && deadline.ElapsedMilliseconds < 2000)
            await Task.Delay(5);
        var elapsed = clock.Elapsed.TotalSeconds;
        var received = Volatile.Read(ref _received);
        var bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        _receiving = false;
        await tx.Socket.SendAsync(Mark(Stop()), WebSocketMessageType.Binary, true, CancellationToken.None); // ends the receiver
        await receiver;
        var samples = _latency.AsSpan(0, (int)Math.Min(received, MaxSamples)).ToArray();
        Array.Sort(samples);
        double Us(double q) => samples.Length == 0 ? 0 : samples[(int)(q * (samples.Length - 1))] * 1e6 / Stopwatch.Frequency;
        return new Figures(received / elapsed, received * size * 8 / elapsed / 1e6, Us(0.50), Us(0.99),
            Volatile.Read(ref _sent) - received, received == 0 ? 0 : (double)bytes / received);
    }

    private volatile bool _receiving = true;

    private byte[] Stop()
    {
        var f = NewFrame();
        BinaryPrimitives.WriteInt64BigEndian(f.AsSpan(14), -1);
        return f;
    }

    private ReadOnlyMemory<byte> Mark(byte[] frame) => tx.Batched ? Record(frame) : frame;

    private static byte[] Record(byte[] frame)
    {
        var r = new byte[2 + frame.Length];
        BinaryPrimitives.WriteUInt16BigEndian(r, (ushort)frame.Length);
        frame.CopyTo(r, 2);
        return r;
    }

    private byte[] NewFrame()
    {
        var f = new byte[size];
        byte[] to = [0x02, 0, 0, 0, 0, 0xbb], from = [0x02, 0, 0, 0, 0, 0xaa];
        to.CopyTo(f, 0);
        from.CopyTo(f, 6);
        (f[12], f[13]) = (0x88, 0xb5);
        return f;
    }

    private async Task SendAsync()
    {
        var perMessage = tx.Batched ? Math.Max(1, Math.Min(window / 4, MaxBatch / (size + 2))) : 1;
        var message = new byte[perMessage * (size + (tx.Batched ? 2 : 0))];
        var template = NewFrame();
        var recordLength = size + (tx.Batched ? 2 : 0);
        for (var i = 0; i < perMessage; i++)
        {
            var at = i * recordLength;
            if (tx.Batched)
                BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(at), (ushort)size);
            template.CopyTo(message, at + (tx.Batched ? 2 : 0));
        }
        while (!_stop)
        {
            while (Volatile.Read(ref _sent) + perMessage - Volatile.Read(ref _received) > window)
            {
                await _room.WaitAsync();
                if (_stop)
                    return;
            }
            var now = Stopwatch.GetTimestamp();
            for (var i = 0; i < perMessage; i++)
                BinaryPrimitives.WriteInt64BigEndian(message.AsSpan(i * recordLength + (tx.Batched ? 2 : 0) + 14), now);
            Interlocked.Add(ref _sent, perMessage);
            await tx.Socket.SendAsync(message, WebSocketMessageType.Binary, true, CancellationToken.None);
        }
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[2 * MaxBatch + 4];
        while (true)
        {
            var length = 0;
            ValueWebSocketReceiveResult r;
            do
            {
                r = await rx.Socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                length += r.Count;
            }
            while (!r.EndOfMessage);
            var now = Stopwatch.GetTimestamp();
            if (!rx.Batched)
            {
                if (!Take(buffer.AsSpan(0, length), now))
                    return;
                continue;
            }
            for (var at = 0; at + 2 <= length;)
            {
                var n = BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(at));
                if (!Take(buffer.AsSpan(at + 2, n), now))
                    return;
                at += 2 + n;
            }
        }
    }

    /// <summary>Records one frame; false for the stop frame.</summary>
    private bool Take(ReadOnlySpan<byte> frame, long now)
    {
        var sent = BinaryPrimitives.ReadInt64BigEndian(frame[14..]);
        if (sent < 0)
            return false;
        if (!_receiving)
            return true; // a straggler of the last round
        var n = Interlocked.Increment(ref _received);
        if (n <= MaxSamples)
            _latency[n - 1] = now - sent;
        if (Volatile.Read(ref _sent) - n <= window / 2)
            _room.Set();
        return true;
    }
}

/// <summary>An auto-reset signal awaited without allocating: one waiter, the sender.</summary>
internal sealed class Signal : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private int _state; // 0 idle, 1 waiting, 2 set

    public ValueTask WaitAsync()
    {
        if (Interlocked.CompareExchange(ref _state, 0, 2) == 2)
            return ValueTask.CompletedTask;
        _core.Reset();
        if (Interlocked.CompareExchange(ref _state, 1, 0) == 2)
        {
            _state = 0;
            return ValueTask.CompletedTask;
        }
        return new ValueTask(this, _core.Version);
    }

    public void Set()
    {
        if (Interlocked.Exchange(ref _state, 2) == 1)
        {
            _state = 0;
            _core.SetResult(true);
        }
    }

    public void GetResult(short token) => _core.GetResult(token);
    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
