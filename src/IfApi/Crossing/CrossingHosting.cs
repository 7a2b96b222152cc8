using System.Text.RegularExpressions;
using IfApi.Frames;
using IfApi.Frames.Nats;
using IfApi.Store;
using Microsoft.Extensions.Options;

namespace IfApi.Crossing;

/// <summary>Frames between replicas (SPEC §7): the plane's uplink over NATS when <c>Frames:Nats:Url</c> is set.</summary>
public static class CrossingHosting
{
    public static WebApplicationBuilder AddIfFrameCrossing(this WebApplicationBuilder builder)
    {
        builder.Services.AddSettings<NatsFramesOptions, NatsFramesValidation>(NatsFramesOptions.Section);
        builder.Services.AddSingleton<FrameCrossing>();
        if (!StoreHosting.GeneratingDocument)
            builder.Services.AddHostedService(sp => sp.GetRequiredService<FrameCrossing>());
        return builder;
    }
}

/// <summary>
/// Whether and how frames cross to other replicas: it starts the NATS uplink with the host and
/// stops it with it, and says at start-up what a replica sharing the store should expect.
/// </summary>
public sealed class FrameCrossing(IOptions<NatsFramesOptions> options, FramePlane plane, StoreOptions store,
    ILoggerFactory logs) : IHostedService, IAsyncDisposable
{
    private readonly ILogger _log = logs.CreateLogger<FrameCrossing>();

    /// <summary>The uplink; null when <c>Frames:Nats:Url</c> is not set.</summary>
    public NatsUplink? Uplink { get; } = string.IsNullOrWhiteSpace(options.Value.Url) ? null
        : new NatsUplink(plane, options.Value, logs.CreateLogger<NatsUplink>());

    /// <summary>One line for <c>/readyz</c>: where frames go beyond this process.</summary>
    public string State => Uplink switch
    {
        null => "frames are switched inside this replica only (Frames:Nats:Url is not set)",
        { Up: true } u => $"frames between replicas go through NATS at {u.SafeUrl}",
        var u => $"frames between replicas are down: NATS at {u.SafeUrl} cannot be reached (switching inside this replica goes on; reconnecting)",
    };

    /// <summary>How long start-up waits for NATS before it answers without it (and keeps connecting).</summary>
    public static readonly TimeSpan FirstConnectWait = TimeSpan.FromSeconds(5);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Uplink is not null)
        {
            _log.LogInformation("frames between replicas go through NATS at {Url}, subjects under '{Prefix}'", Uplink.SafeUrl, options.Value.Prefix);
            if (!await Uplink.StartAsync(FirstConnectWait, cancellationToken))
                _log.LogWarning("frames between replicas: NATS at {Url} did not answer within {Wait}; serving without it and still connecting", Uplink.SafeUrl, FirstConnectWait);
        }
        else if (store.Provider == StoreProvider.Postgres)
            _log.LogWarning("Frames:Nats:Url is not set: frames are switched inside this replica only; replicas sharing this PostgreSQL do not pass frames to each other");
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Uplink is not null)
            await Uplink.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (Uplink is not null)
            await Uplink.DisposeAsync();
    }
}

internal sealed partial class NatsFramesValidation : IValidateOptions<NatsFramesOptions>
{
    public ValidateOptionsResult Validate(string? name, NatsFramesOptions o) => Settings.Check(
        string.IsNullOrWhiteSpace(o.Url) || o.Url.Split(',').All(u => Uri.TryCreate(u.Trim(), UriKind.Absolute, out var uri) && uri.Scheme is "nats" or "tls" or "ws" or "wss")
            ? null : $"Frames:Nats:Url '{o.SafeUrl}' is not a NATS URL (nats://host:4222, tls://, ws://, wss://; several separated by commas)",
        o.CredsFile is not { Length: > 0 } creds || File.Exists(creds) ? null : $"Frames:Nats:CredsFile '{o.CredsFile}' does not exist",
        Subject().IsMatch(o.Prefix ?? "") ? null : $"Frames:Nats:Prefix '{o.Prefix}' is not one or more subject tokens (letters, digits, '-' and '_', separated by dots)",
        o.QueueLength >= 1 ? null : $"Frames:Nats:QueueLength '{o.QueueLength}' is not a whole number of frames, at least 1");

    [GeneratedRegex("^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$")]
    private static partial Regex Subject();
}
