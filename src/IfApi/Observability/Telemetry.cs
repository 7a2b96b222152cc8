using IfApi.Auth;
using System.Diagnostics.Metrics;
using IfApi.Crossing;
using IfApi.Frames;
using IfApi.Frames.Nats;
using IfApi.Store;
using OpenTelemetry.Metrics;

namespace IfApi.Observability;

/// <summary>
/// <c>GET /metrics</c> in Prometheus text format, through OpenTelemetry: HTTP requests and their
/// latency (ASP.NET Core's own meters), creates and destroys by cloner and errno and store retries
/// (<see cref="StoreMetrics"/>), and the frame path's traffic, drops, open devices and queue
/// high-water (<see cref="FrameMetrics"/>). It needs a key with <c>read</c>.
/// </summary>
public static class Telemetry
{
    public static WebApplicationBuilder AddIfTelemetry(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<FrameMetrics>();
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(StoreMetrics.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel")
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0)); // every scrape sees now
        return builder;
    }

    public static WebApplication MapIfMetrics(this WebApplication app)
    {
        app.Services.GetRequiredService<FrameMetrics>(); // its instruments exist from the start
        // Traffic, cloner names and latencies are the operator's business: a key with read (Prometheus: authorization.credentials).
        app.MapPrometheusScrapingEndpoint("/metrics").RequireScope(Auth.Scopes.Read).ExcludeFromDescription();
        return app;
    }
}

/// <summary>The frame path's figures, read from the plane when scraped: nothing is added per frame for them.</summary>
public sealed class FrameMetrics : IDisposable
{
    private readonly Meter _meter;

    /// <remarks>The meter comes from this host's factory: several hosts in one process (tests) each export their own plane.</remarks>
    public FrameMetrics(FramePlane plane, FrameCrossing crossing, IMeterFactory meters)
    {
        _meter = meters.Create(StoreMetrics.MeterName);
        if (crossing.Uplink is { } uplink)
            Crossing(uplink);
        // Each by the vnet the interfaces are in.
        _meter.CreateObservableCounter<long>("ifapi.tap.frames", () => plane.TotalsByVnet().SelectMany(v => new Measurement<long>[]
        {
            new(v.Value.FramesIn, Direction("in"), Vnet(v.Key)), new(v.Value.FramesOut, Direction("out"), Vnet(v.Key)),
        }), "{frame}", "Frames received (in) and transmitted (out) by the interfaces of this process, by vnet");
        _meter.CreateObservableCounter<long>("ifapi.tap.bytes", () => plane.TotalsByVnet().SelectMany(v => new Measurement<long>[]
        {
            new(v.Value.BytesIn, Direction("in"), Vnet(v.Key)), new(v.Value.BytesOut, Direction("out"), Vnet(v.Key)),
        }), "By", "Bytes received (in) and transmitted (out) by the interfaces of this process, by vnet");
        _meter.CreateObservableCounter<long>("ifapi.tap.drops", () => plane.TotalsByVnet().SelectMany(v =>
        {
            var (d, vnet) = (v.Value.Drops, Vnet(v.Key));
            return new Measurement<long>[]
            {
                new(d.Down, Reason("down"), vnet), new(d.QueueFull, Reason("queue-full"), vnet), new(d.LoopCut, Reason("loop-cut"), vnet),
                new(d.NoReader, Reason("no-reader"), vnet), new(d.InputErrors, Reason("input-error"), vnet), new(d.OutputErrors, Reason("output-error"), vnet),
            };
        }), "{frame}", "Frames dropped, by vnet: interface down, transmit queue full, a loop of cables cut, nobody reading the device (tap_start), bad length on input, too long for the MTU on output");
        _meter.CreateObservableGauge("ifapi.tap.open", () => plane.OpenDevices, "{device}", "Tap devices open in this process");
        _meter.CreateObservableGauge("ifapi.tap.queue.high_water", () => TransmitQueue.HighWater, "{frame}",
            "The most frames a transmit queue of this process has held");
    }

    /// <summary>What crossed to and from other replicas through NATS, and what was dropped on the way, by reason.</summary>
    private void Crossing(NatsUplink uplink)
    {
        var c = uplink.Counters;
        _meter.CreateObservableCounter<long>("ifapi.crossing.frames", () => new Measurement<long>[]
            { new(c.In.Frames, Direction("in")), new(c.Out.Frames, Direction("out")) },
            "{frame}", "Frames received from (in) and sent to (out) other replicas through NATS");
        _meter.CreateObservableCounter<long>("ifapi.crossing.messages", () => new Measurement<long>[]
            { new(c.In.Messages, Direction("in")), new(c.Out.Messages, Direction("out")) },
            "{message}", "NATS messages those frames travelled in (several frames for one subject share one)");
        _meter.CreateObservableCounter<long>("ifapi.crossing.bytes", () => new Measurement<long>[]
            { new(c.In.Bytes, Direction("in")), new(c.Out.Bytes, Direction("out")) },
            "By", "Bytes of those messages");
        _meter.CreateObservableCounter<long>("ifapi.crossing.drops", () => NatsFrameDrops(c), "{frame}",
            "Frames between replicas dropped: NATS unreachable, the queue to NATS full, NATS's client holding too many messages for this replica, for a bridge or device no longer served here, a message not in this version's format");
        _meter.CreateObservableGauge("ifapi.crossing.up", () => uplink.Up ? 1 : 0, "1", "1 while frames cross to other replicas (connected to NATS)");
    }

    private static Measurement<long>[] NatsFrameDrops(CrossingCounters c) =>
        CrossingCounters.Reasons.Select(r => new Measurement<long>(c.Dropped(r.Reason), Reason(r.Name))).ToArray();

    private static KeyValuePair<string, object?> Direction(string d) => new("direction", d);

    private static KeyValuePair<string, object?> Reason(string r) => new("reason", r);

    private static KeyValuePair<string, object?> Vnet(string v) => new("vnet", v);

    public void Dispose() => _meter.Dispose();
}
