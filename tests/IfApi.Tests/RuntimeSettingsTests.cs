using System.Text.Json;

namespace IfApi.Tests;

/// <summary>
/// The runtime settings the service ships with, as <c>dotnet IfApi.dll</c> reads them from
/// IfApi.runtimeconfig.json. Each was chosen by a measurement (see src/IfApi/Runtime.props); these
/// keep a project-file edit from dropping one unnoticed.
/// </summary>
public sealed class RuntimeSettingsTests
{
    private static JsonElement ConfigProperties()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "IfApi.runtimeconfig.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties").Clone();
    }

    private static string Setting(string name) =>
        ConfigProperties().TryGetProperty(name, out var value) ? value.ToString() : $"(no {name})";

    [Fact]
    public void Workstation_garbage_collector() =>
        Assert.Equal("False", Setting("System.GC.Server"));

    [Fact]
    public void Methods_are_compiled_again_optimized_after_2000_calls() =>
        Assert.Equal("2000", Setting("System.Runtime.TieredCompilation.CallCountThreshold"));

    [Fact]
    public void Idle_pool_threads_spin_30_times() =>
        Assert.Equal("30", Setting("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit"));

    [Fact]
    public void Profile_guided_optimization_stays_on()
    {
        // Turning it off saved 4 MB idle (bench/run.sh, memory part: 122.1 MB against 126.4 MB) and
        // cost the frame path about a fifth of its throughput (frame benchmark, paired runs): it
        // stays at the runtime's default.
        Assert.False(ConfigProperties().TryGetProperty("System.Runtime.TieredPGO", out _));
    }
}
