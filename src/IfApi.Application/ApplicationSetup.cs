using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace IfApi.Application;

public static class ApplicationSetup
{
    /// <summary>The use cases, one service per aggregate; the host registers the store and, with a frame path, an <see cref="ILinkObserver"/>.</summary>
    public static IServiceCollection AddIfApplication(this IServiceCollection services)
    {
        services.TryAddSingleton<ILinkObserver, NoLinkObserver>();
        services.AddSingleton<InterfaceService>();
        services.AddSingleton<ClonerService>();
        services.AddSingleton<GroupService>();
        services.AddSingleton<BridgeService>();
        services.AddSingleton<TapDeviceService>();
        services.AddSingleton<CloningDevice>();
        services.AddSingleton<DeclarationService>();
        services.AddSingleton<BatchService>();
        services.AddSingleton<VnetService>();
        services.AddSingleton<Startup>();
        return services;
    }
}
