using IfApi.Auth;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace IfApi.Tests;

/// <summary>When a burst of work is over, its memory goes back: the rule, and the service doing it.</summary>
public sealed class IdleTrimPolicyTests
{
    private const long Mb = 1 << 20;

    [Fact]
    public void A_quiet_interval_after_a_burst_trims_once()
    {
        var policy = new IdleTrimPolicy(quietBytes: 1 * Mb, burstBytes: 16 * Mb);
        Assert.False(policy.ShouldTrim(10 * Mb));  // busy: 10 MB in the first interval
        Assert.False(policy.ShouldTrim(20 * Mb));  // still busy
        Assert.True(policy.ShouldTrim(20 * Mb + 1000)); // quiet, 20 MB since the start
        Assert.False(policy.ShouldTrim(20 * Mb + 2000)); // quiet, but nothing since the trim
        Assert.False(policy.ShouldTrim(21 * Mb));
    }

    [Fact]
    public void A_busy_process_is_never_trimmed()
    {
        var policy = new IdleTrimPolicy(quietBytes: 1 * Mb, burstBytes: 16 * Mb);
        for (long at = 2 * Mb; at < 1000 * Mb; at += 2 * Mb)
            Assert.False(policy.ShouldTrim(at));
    }

    [Fact]
    public void Little_work_spread_over_quiet_intervals_trims_once_it_adds_up_to_a_burst()
    {
        var policy = new IdleTrimPolicy(quietBytes: 1 * Mb, burstBytes: 16 * Mb);
        var trims = 0;
        for (long at = Mb / 2; at <= 40 * Mb; at += Mb / 2)
            trims += policy.ShouldTrim(at) ? 1 : 0;
        Assert.Equal(2, trims); // at 16 MB and at 32 MB
    }

    [Fact]
    public void Compiling_many_methods_is_a_burst_too_and_the_jit_need_not_be_quiet()
    {
        var policy = new IdleTrimPolicy(quietBytes: 1 * Mb, burstBytes: 16 * Mb, burstMethods: 500);
        Assert.False(policy.ShouldTrim(Mb / 2, compiledMethods: 499));
        Assert.True(policy.ShouldTrim(Mb, compiledMethods: 500));   // quiet allocation, 500 methods since the start
        Assert.False(policy.ShouldTrim(Mb + 10, compiledMethods: 900));
        Assert.True(policy.ShouldTrim(Mb + 20, compiledMethods: 1000));
        Assert.False(policy.ShouldTrim(10 * Mb, compiledMethods: 5000)); // busy allocating: never
    }

    [Fact]
    public void Each_burst_is_trimmed_after_it()
    {
        var policy = new IdleTrimPolicy(quietBytes: 1 * Mb, burstBytes: 16 * Mb);
        Assert.False(policy.ShouldTrim(30 * Mb));
        Assert.True(policy.ShouldTrim(30 * Mb));
        Assert.False(policy.ShouldTrim(60 * Mb));
        Assert.False(policy.ShouldTrim(61 * Mb + 1)); // more than 1 MB: still busy
        Assert.True(policy.ShouldTrim(61 * Mb + 1));
    }
}

public sealed class MemoryTrimTests(SqliteStore store) : IClassFixture<SqliteStore>
{
    [Fact]
    public async Task The_service_gives_its_start_up_burst_back_once_quiet()
    {
        await using var service = await ServiceProcess.StartAsync(store, [("Logging:LogLevel:IfApi.MemoryTrimmer", "Debug")]);
        var line = await service.WaitForOutputAsync(l => l.Contains("memory: trimmed after a burst", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        Assert.Contains("resident", line, StringComparison.Ordinal);
    }

    [Fact]
    public void TrimWhenIdle_false_leaves_the_heap_to_the_collector_and_a_bad_value_stops_the_start()
    {
        using (var off = store.NewFactory(("Memory:TrimWhenIdle", "false")))
        {
            _ = off.CreateClient();
            // Started and done at once: it samples nothing and never collects.
            Assert.True(off.Services.GetRequiredService<MemoryTrimmer>().ExecuteTask?.IsCompletedSuccessfully);
        }
        using (var on = store.NewFactory())
        {
            _ = on.CreateClient();
            Assert.Contains(on.Services.GetServices<IHostedService>(), s => s is MemoryTrimmer);
            Assert.False(on.Services.GetRequiredService<MemoryTrimmer>().ExecuteTask?.IsCompleted);
        }
        using var bad = store.NewFactory(("Memory:TrimWhenIdle", "sometimes"));
        var e = Assert.ThrowsAny<Exception>(() => bad.CreateClient());
        Assert.Contains("'sometimes' at 'Memory:TrimWhenIdle'", e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Start_up_neither_loads_nor_writes_a_data_protection_key_ring()
    {
        using var factory = store.NewFactory();
        _ = factory.CreateClient();
        Assert.DoesNotContain(factory.Services.GetServices<IHostedService>(), s => s.GetType().FullName == AuthSetup.DataProtectionWarmUp);
        // The rule matches the type ASP.NET Core registers: without it the test above proves nothing.
        var services = new ServiceCollection();
        services.AddDataProtection();
        Assert.Contains(services, d => d.ImplementationType?.FullName == AuthSetup.DataProtectionWarmUp);
        AuthSetup.WithoutDataProtectionWarmUp(services);
        Assert.DoesNotContain(services, d => d.ServiceType == typeof(IHostedService));
    }
}
