using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;

namespace IfApi;

/// <summary>
/// Decides when a burst of work is over and the memory it left behind should go back to the
/// operating system.
/// </summary>
/// <remarks>
/// The garbage collector grows its budget to the work it sees (on 2 cores with a 32 MB cache the
/// workstation collector lets 16 MB of garbage pile up before it collects) and keeps what it grew:
/// a service that has gone quiet allocates nothing, so nothing makes it collect again. The JIT's
/// scratch memory, freed after each method, stays in the C library's arenas the same way. Start-up
/// is such a burst (building the store's model, migrating, compiling the first queries), and so is
/// the first run of each background job, or opening a thousand taps. A burst is at least
/// <see cref="BurstBytes"/> allocated or <see cref="BurstMethods"/> methods compiled since the last
/// trim; it is over when a whole sample interval allocates at most <see cref="QuietBytes"/>. The JIT
/// is not asked to be quiet too: tiered compilation goes on promoting the methods an idle service
/// calls for half a minute. A busy service never trims; a quiet one trims once per burst.
/// </remarks>
public sealed class IdleTrimPolicy(long quietBytes, long burstBytes, long burstMethods = long.MaxValue)
{
    private long _lastBytes;
    private long _bytesAtTrim;
    private long _methodsAtTrim;

    /// <summary>At most this many bytes allocated during one sample interval counts as quiet.</summary>
    public long QuietBytes { get; } = quietBytes;

    /// <summary>At least this many bytes allocated since the last trim make another worth its pause.</summary>
    public long BurstBytes { get; } = burstBytes;

    /// <summary>At least this many methods compiled since the last trim make another worth its pause.</summary>
    public long BurstMethods { get; } = burstMethods;

    /// <summary>
    /// Takes one sample of the process's total allocated bytes and compiled methods; true when a
    /// trim is due now.
    /// </summary>
    public bool ShouldTrim(long allocatedBytes, long compiledMethods = 0)
    {
        var quiet = allocatedBytes - _lastBytes <= QuietBytes;
        _lastBytes = allocatedBytes;
        if (!quiet || (allocatedBytes - _bytesAtTrim < BurstBytes && compiledMethods - _methodsAtTrim < BurstMethods))
            return false;
        _bytesAtTrim = allocatedBytes;
        _methodsAtTrim = compiledMethods;
        return true;
    }
}

/// <summary><c>Memory:TrimWhenIdle</c> (default true); how often the process is sampled and what a burst is are not settings.</summary>
public sealed class MemoryTrimOptions
{
    public const string Section = "Memory";

    public bool TrimWhenIdle { get; set; } = true;
    public TimeSpan Interval { get; } = TimeSpan.FromSeconds(2);
    public long QuietBytes { get; } = 1 << 20;
    public long BurstBytes { get; } = 4 << 20;
    public long BurstMethods { get; } = 1000;
}

/// <summary>Samples the process's allocations and trims the heap once a burst of work is over.</summary>
internal sealed class MemoryTrimmer(MemoryTrimOptions options, ILogger<MemoryTrimmer> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        if (!options.TrimWhenIdle)
            return; // the collector decides alone
        var policy = new IdleTrimPolicy(options.QuietBytes, options.BurstBytes, options.BurstMethods);
        using var timer = new PeriodicTimer(options.Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                if (!policy.ShouldTrim(GC.GetTotalAllocatedBytes(), System.Runtime.JitInfo.GetCompiledMethodCount()))
                    continue;
                var before = Environment.WorkingSet;
                var heapBefore = GC.GetGCMemoryInfo().HeapSizeBytes;
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                // Aggressive: compacts every generation and decommits what the heap no longer uses,
                // free regions included, instead of keeping them for the next burst.
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                TrimNativeHeap();
                var took = System.Diagnostics.Stopwatch.GetElapsedTime(started);
                log.LogDebug("memory: trimmed after a burst in {Ms} ms: resident {Before} -> {After} MB, heap {HeapBefore} -> {HeapAfter} MB",
                    took.TotalMilliseconds.ToString("F1", CultureInfo.InvariantCulture), Mb(before), Mb(Environment.WorkingSet), Mb(heapBefore), Mb(GC.GetGCMemoryInfo().HeapSizeBytes));
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>glibc keeps what native code freed in its arenas; <c>malloc_trim</c> returns it. Other C libraries are left alone.</summary>
    private static void TrimNativeHeap()
    {
        if (!OperatingSystem.IsLinux())
            return;
        try
        {
            _ = MallocTrim(0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    private static string Mb(long bytes) => (bytes / 1048576.0).ToString("F1", CultureInfo.InvariantCulture);
}

public static class MemoryTrimHosting
{
    /// <summary>Registers the trimmer, which does nothing when <c>Memory:TrimWhenIdle</c> is false.</summary>
    public static WebApplicationBuilder AddIfMemoryTrim(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<MemoryTrimOptions>().BindConfiguration(MemoryTrimOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton(sp => sp.GetRequiredService<IOptions<MemoryTrimOptions>>().Value);
        if (!StoreHosting.GeneratingDocument)
        {
            builder.Services.AddSingleton<MemoryTrimmer>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<MemoryTrimmer>());
        }
        return builder;
    }
}
