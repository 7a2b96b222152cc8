using System.Diagnostics.Metrics;
using IfApi.Domain;

namespace IfApi.Store;

/// <summary>
/// What the store counts for <c>/metrics</c>: transactions run again, by reason.
/// </summary>
public static class StoreMetrics
{
    public const string MeterName = "IfApi";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Retries = Meter.CreateCounter<long>("ifapi.store.retries", "{transaction}",
        "Transactions run again: reason race (serialization, deadlock, a version moved) or outage (the store was unreachable)");

    internal static void Retried(string reason) => Retries.Add(1, new KeyValuePair<string, object?>("reason", reason));
}
