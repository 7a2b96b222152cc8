using System.Diagnostics.Metrics;
using IfApi.Domain;
using IfApi.Store;

namespace IfApi.Application;

/// <summary>
/// What the use cases count for <c>/metrics</c>: creates and destroys by vnet, cloner and errno (<c>none</c>
/// when it succeeded). Labels take only bounded values: a cloner's name only once the name matched
/// one, else <c>none</c>.
/// </summary>
internal static class UseCaseMetrics
{
    private static readonly Meter Meter = new(StoreMetrics.MeterName);

    private static readonly Counter<long> Creates = Meter.CreateCounter<long>("ifapi.interface.creates", "{request}",
        "SIOCIFCREATE2 answers by vnet, cloner and errno (none: created)");

    private static readonly Counter<long> Destroys = Meter.CreateCounter<long>("ifapi.interface.destroys", "{request}",
        "SIOCIFDESTROY answers by vnet, cloner and errno (none: destroyed)");

    public static void Created(string? cloner, Errno? errno) =>
        Creates.Add(1, new("vnet", Curvnet.Name), new("cloner", cloner ?? "none"), new("errno", errno?.ToString() ?? "none"));

    public static void Destroyed(string? cloner, Errno? errno) =>
        Destroys.Add(1, new("vnet", Curvnet.Name), new("cloner", cloner ?? "none"), new("errno", errno?.ToString() ?? "none"));
}
