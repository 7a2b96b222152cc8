using IfApi.Application;
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

internal sealed class TapOptionsValidation : IValidateOptions<TapOptions>
{
    public ValidateOptionsResult Validate(string? name, TapOptions options) => Settings.Check(
        options.QueueLength >= 1 ? null : $"Tap:QueueLength '{options.QueueLength}' is not a whole number of frames, at least 1",
        options.MaxOpen >= 1 ? null : $"Tap:MaxOpen '{options.MaxOpen}' is not a whole number of devices, at least 1",
        options.LeaseSeconds is not { } lease || lease >= 1 ? null : $"Tap:LeaseSeconds '{lease}' is not a whole number of seconds, at least 1");
}
