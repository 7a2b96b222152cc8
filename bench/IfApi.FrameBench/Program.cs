// The frame path's benchmark: the service in this process on a loopback port, two WebSocket
// clients on one bridge, A sending to B as fast as B takes them (at most --window frames in flight,
// fewer than the transmit queue holds, so a drop would be a fault), 64- and 1514-byte frames, the
// plain and the batched framing. Figures per case are medians of --rounds rounds of --seconds.
//   bench/frames.sh [--seconds 5] [--rounds 3] [--window 512]
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using IfApi.Frames.Wire;
using IfApi.Relay;
using Microsoft.AspNetCore.Mvc.Testing;

string? Get(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
var seconds = int.Parse(Get("--seconds") ?? "5", CultureInfo.InvariantCulture);
var rounds = int.Parse(Get("--rounds") ?? "3", CultureInfo.InvariantCulture);
var window = int.Parse(Get("--window") ?? "512", CultureInfo.InvariantCulture);
var perWrite = int.Parse(Get("--per-write") ?? "64", CultureInfo.InvariantCulture);
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

Console.WriteLine($"# frames A -> B through {bridge}: {Environment.ProcessorCount} cores, service and clients in one process, window {window} frames in flight, up to {perWrite} frames per client write, medians of {rounds} rounds of {seconds}s");
Console.WriteLine("# bytes/frame: everything this process allocated (service, Kestrel and both clients) over the frames delivered");
// --cases plain:64,batched:1514 runs some of the four.
var cases = (Get("--cases") ?? "plain:64,plain:1514,batched:64,batched:1514").Split(',')
    .Select(c => c.Split(':')).Select(c => (Batched: c[0] == "batched", Size: int.Parse(c[1], CultureInfo.InvariantCulture)));
foreach (var (batched, size) in cases)
    await MeasureAsync(batched, size, window, perWrite, batched ? "target >= 500,000" : "target >= 100,000");
// The same path unloaded: one frame in flight, so the latency is the path's own, not a queue's.
if (Get("--cases") is null)
{
    foreach (var batched in new[] { false, true })
        await MeasureAsync(batched, 64, 1, 1, "one frame in flight");
}

async Task MeasureAsync(bool batched, int size, int window, int perWrite, string note)
{
    var results = new List<Figures>();
    var server = http.BaseAddress!;
    using var tx = await Device.OpenAsync(server, a, batched);
    using var rx = await Device.OpenAsync(server, b, batched);
    await new FrameRun(tx, rx, size, window, perWrite).RunAsync(TimeSpan.FromSeconds(1)); // warm-up: JIT, pools, the learning table
    for (var r = 0; r < rounds; r++)
    {
        var drops = await Oqdrops(b);
        var f = await new FrameRun(tx, rx, size, window, perWrite).RunAsync(TimeSpan.FromSeconds(seconds));
        results.Add(f with { Drops = f.Drops + await Oqdrops(b) - drops });
    }
    var m = results.OrderBy(x => x.FramesPerSecond).ElementAt(results.Count / 2);
    var name = batched ? "batched" : "plain  ";
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"frames {name} {size,4} B: {m.FramesPerSecond,9:N0} frames/s {m.Mbps,8:N0} Mbit/s  p50 {m.P50Us,7:N1} us  p99 {m.P99Us,7:N1} us  drops {m.Drops}  {m.BytesPerFrame,6:N2} B/frame  (rounds: {string.Join(" ", results.Select(x => x.FramesPerSecond.ToString("N0", CultureInfo.InvariantCulture)))}; {note})"));
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

/// <summary>A tap's device from the client side: the relay's client, with the framing chosen.</summary>
internal sealed class Device : IDisposable
{
    private Device(WsClient socket) => Socket = socket;

    public WsClient Socket { get; }

    public bool Batched => Socket.SubProtocol == BatchFraming.Protocol;

    public static Task<Device> OpenAsync(Uri server, string tap, bool batched) =>
        Task.Run(() => new Device(WsClient.Connect(new UriBuilder(server) { Scheme = "ws", Path = $"/v1/interfaces/{tap}/tap" }.Uri, batched ? [BatchFraming.Protocol] : [], null)));

    public void Dispose()
    {
        Socket.Close();
        Socket.Dispose();
    }
}

/// <summary>
/// One measurement, on two threads of its own: a sender and a receiver. Each frame carries its send
/// time; the receiver records one latency per frame into an array allocated up front and lets the
/// sender go on when half the window has arrived, so the clients allocate nothing per frame. The
/// sender writes what the window allows, up to <paramref name="perWrite"/> frames, in one socket
/// write: one message per frame in the plain framing, one message of records in the batched.
/// </summary>
internal sealed class FrameRun(Device tx, Device rx, int size, int window, int perWrite)
{
    private const int MaxSamples = 1 << 22;
    private readonly long[] _latency = new long[MaxSamples];
    private long _sent, _received;
    private volatile bool _stop, _counting = true;
    private readonly SemaphoreSlim _room = new(0, int.MaxValue);

    public async Task<Figures> RunAsync(TimeSpan duration)
    {
        GC.Collect();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        var receiver = new Thread(Receive) { IsBackground = true };
        var sender = new Thread(Send) { IsBackground = true };
        receiver.Start();
        sender.Start();
        await Task.Delay(duration);
        _stop = true;
        _room.Release();
        sender.Join();
        // What was sent is let through before the count is read: whatever does not come is a drop.
        var deadline = Stopwatch.StartNew();
        while (Volatile.Read(ref _received) < Volatile.Read(ref _sent) && deadline.ElapsedMilliseconds < 2000)
            await Task.Delay(5);
        var elapsed = clock.Elapsed.TotalSeconds;
        var received = Volatile.Read(ref _received);
        var bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        _counting = false;
        SendStop();
        receiver.Join();
        var samples = _latency.AsSpan(0, (int)Math.Min(received, MaxSamples)).ToArray();
        Array.Sort(samples);
        double Us(double q) => samples.Length == 0 ? 0 : samples[(int)(q * (samples.Length - 1))] * 1e6 / Stopwatch.Frequency;
        return new Figures(received / elapsed, received * size * 8 / elapsed / 1e6, Us(0.50), Us(0.99),
            Volatile.Read(ref _sent) - received, received == 0 ? 0 : (double)bytes / received);
    }

    private static ReadOnlySpan<byte> Header => [0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa, 0x88, 0xb5];

    private static void Template(Span<byte> f)
    {
        f.Clear();
        Header.CopyTo(f);
    }

    private void SendStop()
    {
        var batch = new WsClient.Batch(tx.Socket, tx.Batched, 64 * 1024);
        var f = batch.Reserve(size);
        Template(f);
        BinaryPrimitives.WriteInt64BigEndian(f[14..], -1);
        batch.Commit(size);
        batch.Send();
    }

    private void Send()
    {
        var batch = new WsClient.Batch(tx.Socket, tx.Batched, 64 * 1024);
        while (!_stop)
        {
            var room = (int)Math.Min(perWrite, window - (Volatile.Read(ref _sent) - Volatile.Read(ref _received)));
            if (room <= 0)
            {
                _room.Wait();
                continue;
            }
            var now = Stopwatch.GetTimestamp();
            for (var i = 0; i < room; i++)
            {
                var f = batch.Reserve(size);
                Template(f);
                BinaryPrimitives.WriteInt64BigEndian(f[14..], now);
                batch.Commit(size);
            }
            Interlocked.Add(ref _sent, room);
            batch.Send();
        }
    }

    private void Receive()
    {
        while (true)
        {
            var message = rx.Socket.Receive();
            if (message.Type == WebSocketOpcode.Close)
                return;
            var now = Stopwatch.GetTimestamp();
            var bytes = message.Bytes.Span;
            if (!rx.Batched)
            {
                if (!Take(bytes, now))
                    return;
                continue;
            }
            var records = new BatchReader(bytes);
            while (records.TryRead(out var frame))
            {
                if (!Take(frame, now))
                    return;
            }
        }
    }

    /// <summary>Records one frame; false for the stop frame.</summary>
    private bool Take(ReadOnlySpan<byte> frame, long now)
    {
        var sent = BinaryPrimitives.ReadInt64BigEndian(frame[14..]);
        if (sent < 0)
            return false;
        if (!_counting)
            return true; // a straggler of the last round
        var n = Interlocked.Increment(ref _received);
        if (n <= MaxSamples)
            _latency[n - 1] = now - sent;
        if (Volatile.Read(ref _sent) - n == window / 2)
            _room.Release();
        return true;
    }
}

