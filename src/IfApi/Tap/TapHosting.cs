using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text.Json;
using IfApi.Application;
using IfApi.Domain;
using IfApi.Frames;
using IfApi.Store;
using Microsoft.Extensions.Options;

namespace IfApi.Tap;

/// <summary>Wires the frame path: the plane (reading links from the store, told of changes by the use cases), its sweeper, and the device endpoints.</summary>
public static class TapHosting
{
    public static WebApplicationBuilder AddIfTap(this WebApplicationBuilder builder)
    {
        builder.Services.AddSettings<TapOptions, TapOptionsValidation>(TapOptions.Section);
        builder.Services.AddSingleton(sp => sp.GetRequiredService<IOptions<TapOptions>>().Value);
        // The store writes each open device's lease and LeaseKeeper renews it: both read its length there.
        builder.Services.AddOptions<StoreOptions>().Configure<IOptions<TapOptions>>((store, tap) =>
        {
            if (tap.Value.LeaseSeconds is { } seconds)
                store.LeaseDuration = TimeSpan.FromSeconds(seconds);
        });
        builder.Services.AddSingleton<ILinkSource, StoreLinkSource>();
        builder.Services.AddSingleton<FramePlane>();
        builder.Services.AddSingleton<ILinkObserver, FramePlaneObserver>();
        builder.Services.AddHostedService<FrameSweeper>();
        if (!StoreHosting.GeneratingDocument)
        {
            builder.Services.AddHostedService<TapWarmup>(); // after the store's start-up, before the first request
            builder.Services.AddHostedService<LeaseKeeper>();
            builder.Services.AddHostedService<PlaneFollower>();
        }
        return builder;
    }

    public static WebApplication UseIfTap(this WebApplication app)
    {
        app.Use(DeviceStream.Intercept); // before the WebSocket middleware takes the upgrade
        app.UseWebSockets();
        return app;
    }
}

/// <summary>
/// A warm start (SPEC §9): before the service answers, a cloning open onto a bridge and its close
/// run once as a dry run, and a frame goes through a bridge of the frame path's own, so the first
/// tap device opened after a start waits about as long as the next one, not ten times as long.
/// </summary>
internal sealed class TapWarmup(CloningDevice cloning, InterfaceService interfaces, UnitPoolExtender units, ILinkSource links,
    ILogger<TapWarmup> log) : IHostedService
{
    public async Task StartAsync(CancellationToken ct)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            await cloning.WarmAsync(ct);
            // A dry run extends unit pools in its own transaction; a create, through connections of their own.
            await units.WarmAsync([Pools.In(Domain.Vnets.Host, "tap"), Pools.In(Domain.Vnets.Host, Pools.Ifindex)], ct);
            // What a port connects to, read for an interface that is there (lo0), and not kept.
            if (await interfaces.FindAsync("lo0", ct) is { } lo)
                await links.GetLinksAsync([lo.Id], ct);
            WarmForwarding();
            await WarmSessionAsync(ct);
            log.LogDebug("the tap path is warm ({Ms} ms)", clock.ElapsedMilliseconds);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            // Not a reason to stay down (a loopback session that timed out included): the first open is only slower.
            log.LogWarning(e, "warming the tap path failed; the first tap opened will wait longer");
        }
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    /// <summary>One broadcast through a bridge of two ports nobody else sees, into the other's device queue.</summary>
    private static void WarmForwarding()
    {
        var bridge = new Bridge();
        var (from, to) = (new Port(Guid.NewGuid(), 1500, up: true, queueLength: 4), new Port(Guid.NewGuid(), 1500, up: true, queueLength: 4));
        bridge.Add(from);
        bridge.Add(to);
        var device = to.TryOpen()!;
        var frame = Frame.Rent(60);
        frame.Memory.Span.Clear();
        frame.Memory.Span[..6].Fill(0xff);
        frame.Memory.Span[6] = 0x02;
        bridge.Forward(from, frame);
        to.Close(device); // what it queued is released
    }

    /// <summary>
    /// A device's session over a WebSocket on loopback, with a port of its own: the greeting, a
    /// frame each way, and the close, as a visitor's first minute would run them.
    /// </summary>
    private static async Task WarmSessionAsync(CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var near = new TcpClient();
        await near.ConnectAsync((IPEndPoint)listener.LocalEndpoint, timeout.Token);
        using var far = await listener.AcceptTcpClientAsync(timeout.Token);
        using var device = WebSocket.CreateFromStream(far.GetStream(), new WebSocketCreationOptions { IsServer = true });
        using var visitor = WebSocket.CreateFromStream(near.GetStream(), new WebSocketCreationOptions());
        var port = new Port(Guid.NewGuid(), 1500, up: true, queueLength: 4);
        var queue = port.TryOpen()!;
        var session = new TapSession(device, null, port, queue, batched: false)
            .RunAsync(JsonSerializer.SerializeToUtf8Bytes(new { name = "tap" }), timeout.Token);
        var buffer = new byte[2048];
        await visitor.ReceiveAsync(buffer, timeout.Token); // the greeting
        var frame = new byte[60];
        frame.AsSpan(0, 6).Fill(0xff);
        await visitor.SendAsync(frame, WebSocketMessageType.Binary, true, timeout.Token);
        port.Transmit(Frame.Copy(frame));
        await visitor.ReceiveAsync(buffer, timeout.Token);
        await visitor.CloseAsync(WebSocketCloseStatus.NormalClosure, "", timeout.Token);
        await session.WaitAsync(timeout.Token);
    }
}

internal sealed class TapOptionsValidation : IValidateOptions<TapOptions>
{
    public ValidateOptionsResult Validate(string? name, TapOptions options) => Settings.Check(
        options.QueueLength >= 1 ? null : $"Tap:QueueLength '{options.QueueLength}' is not a whole number of frames, at least 1",
        options.MaxOpen >= 1 ? null : $"Tap:MaxOpen '{options.MaxOpen}' is not a whole number of devices, at least 1",
        options.LeaseSeconds is not { } lease || lease >= 1 ? null : $"Tap:LeaseSeconds '{lease}' is not a whole number of seconds, at least 1");
}
