using IfApi.Auth;
using System.Diagnostics.Metrics;
using IfApi.Frames;
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
    public FrameMetrics(FramePlane plane, IMeterFactory meters)
    {
        _meter = meters.Create(StoreMetrics.MeterName);
        _meter.CreateObservableCounter<long>("ifapi.tap.frames", () =>
        {
            var t = plane.Totals();
            return new Measurement<long>[] { new(t.FramesIn, Direction("in")), new(t.FramesOut, Direction("out")) };
        }, "{frame}", "Frames received (in) and transmitted (out) by the interfaces of this process");
        _meter.CreateObservableCounter<long>("ifapi.tap.bytes", () =>
        {
            var t = plane.Totals();
            return new Measurement<long>[] { new(t.BytesIn, Direction("in")), new(t.BytesOut, Direction("out")) };
        }, "By", "Bytes received (in) and transmitted (out) by the interfaces of this process");
        _meter.CreateObservableCounter<long>("ifapi.tap.drops", () =>
        {
            var d = plane.Totals().Drops;
            return new Measurement<long>[]
            {
                new(d.Down, Reason("down")), new(d.QueueFull, Reason("queue-full")), new(d.LoopCut, Reason("loop-cut")),
                new(d.NoReader, Reason("no-reader")), new(d.InputErrors, Reason("input-error")), new(d.OutputErrors, Reason("output-error")),
            };
        }, "{frame}", "Frames dropped: interface down, transmit queue full, a loop of cables cut, nobody reading the device (tap_start), bad length on input, too long for the MTU on output");
        _meter.CreateObservableGauge("ifapi.tap.open", () => plane.OpenDevices, "{device}", "Tap devices open in this process");
        _meter.CreateObservableGauge("ifapi.tap.queue.high_water", () => TransmitQueue.HighWater, "{frame}",
            "The most frames a transmit queue of this process has held");
    }

    private static KeyValuePair<string, object?> Direction(string d) => new("direction", d);

    private static KeyValuePair<string, object?> Reason(string r) => new("reason", r);

    public void Dispose() => _meter.Dispose();
}
