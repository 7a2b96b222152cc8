using System.Diagnostics.Metrics;
using IfApi.Domain;

namespace IfApi.Store;

/// <summary>
/// What the store counts for <c>/metrics</c>: creates and destroys by cloner and errno (<c>none</c>
/// when it succeeded), and transactions run again. Labels take only bounded values: a cloner's name
/// only once the name matched one, else <c>none</c>.
/// </summary>
public static class StoreMetrics
{
    public const string MeterName = "IfApi";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Creates = Meter.CreateCounter<long>("ifapi.interface.creates", "{request}",
        "SIOCIFCREATE2 answers by cloner and errno (none: created)");

    private static readonly Counter<long> Destroys = Meter.CreateCounter<long>("ifapi.interface.destroys", "{request}",
        "SIOCIFDESTROY answers by cloner and errno (none: destroyed)");

    private static readonly Counter<long> Retries = Meter.CreateCounter<long>("ifapi.store.retries", "{transaction}",
        "Transactions run again: reason race (serialization, deadlock, a version moved) or outage (the store was unreachable)");

    internal static void Created(string? cloner, Errno? errno) =>
        Creates.Add(1, new("cloner", cloner ?? "none"), new("errno", errno?.ToString() ?? "none"));

    internal static void Destroyed(string? cloner, Errno? errno) =>
        Destroys.Add(1, new("cloner", cloner ?? "none"), new("errno", errno?.ToString() ?? "none"));

    internal static void Retried(string reason) => Retries.Add(1, new KeyValuePair<string, object?>("reason", reason));
}
