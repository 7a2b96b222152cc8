using IfApi.Frames;
using IfApi.Store;

namespace IfApi.Tap;

/// <summary>Wires the frame path: the plane the store reports changes to, its sweeper, and the device endpoints.</summary>
public static class TapHosting
{
    public static WebApplicationBuilder AddIfTap(this WebApplicationBuilder builder)
    {
        var options = new TapOptions();
        if (builder.Configuration["Tap:QueueLength"] is { Length: > 0 } length)
            options.QueueLength = int.TryParse(length, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n >= 1
                ? n : throw new InvalidOperationException($"Tap:QueueLength '{length}' is not a whole number of frames, at least 1");
        if (builder.Configuration["Tap:MaxOpen"] is { Length: > 0 } most)
            options.MaxOpen = int.TryParse(most, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var m) && m >= 1
                ? m : throw new InvalidOperationException($"Tap:MaxOpen '{most}' is not a whole number of devices, at least 1");
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<ILinkSource, StoreLinkSource>();
        builder.Services.AddSingleton<FramePlane>();
        builder.Services.AddSingleton<IInterfaceWatcher, FramePlaneWatcher>();
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
        app.MapTapApi();
        return app;
    }
}
