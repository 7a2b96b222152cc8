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
