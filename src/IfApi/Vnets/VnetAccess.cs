using System.Collections.Concurrent;
using IfApi.Application;
using IfApi.Auth;
using IfApi.Domain;
using IfApi.Store;
using Microsoft.Extensions.Options;

namespace IfApi.Vnets;

/// <summary>
/// Which vnet a request works in, decided once per request and set as <see cref="Curvnet"/> for
/// everything below it: the vnet its path names (<c>/v1/vnets/{vnet}/…</c>, as <c>jexec NAME</c>), else
/// the caller's own (a bound key's vnet, or <c>host</c>). A key bound to a vnet sees no other:
/// naming one is ENXIO, as <c>prison_find_child</c> finds nothing.
/// </summary>
public static class VnetAccess
{
    /// <summary>The route value of <c>/v1/vnets/{vnet}/…</c>.</summary>
    public const string RouteValue = "vnet";

    /// <summary>The vnet the caller's key is bound to; null for a host key (and in open mode).</summary>
    public static string? BoundTo(HttpContext http) => http.User.Identity is KeyIdentity { Key.Vnet: { } vnet } ? vnet : null;

    /// <summary>The caller's own vnet: its plain paths work there.</summary>
    public static string Own(HttpContext http) => BoundTo(http) ?? Domain.Vnets.Host;

    /// <summary>
    /// The vnet <paramref name="named"/> (or, when null, <paramref name="plain"/>) if the caller may
    /// see it and it exists; ENXIO otherwise.
    /// </summary>
    public static async ValueTask<string> ResolveAsync(HttpContext http, string? named, string plain)
    {
        var vnet = named ?? plain;
        if (BoundTo(http) is { } bound && vnet != bound || !await http.RequestServices.GetRequiredService<VnetDirectory>().ExistsAsync(vnet, http.RequestAborted))
            throw new IfError(Errno.ENXIO, $"no vnet '{vnet}'");
        return vnet;
    }

    /// <summary>Creating and deleting vnets and moving interfaces between them: a host key's (a jail lacks PRIV_NET_SETIFVNET).</summary>
    public static void CheckHostKey(HttpContext http, string what, string ioctl)
    {
        if (BoundTo(http) is { } bound)
            throw new IfError(Errno.EPERM, $"a key bound to vnet '{bound}' may not {what}", ioctl);
    }

    /// <summary>The <c>/v1</c> prefix of the request's vnet as it was addressed: <c>/v1/vnets/{vnet}</c> or <c>/v1</c>.</summary>
    public static string V1(HttpContext http) =>
        http.Request.RouteValues.TryGetValue(RouteValue, out var v) && v is string vnet && http.GetEndpoint()?.Metadata.GetMetadata<VnetScope>() is not null
            ? $"/v1/vnets/{vnet}"
            : "/v1";

    /// <summary>Sets the request's vnet before its endpoint runs (after authentication).</summary>
    public static WebApplication UseIfVnets(this WebApplication app)
    {
        app.Use(async (http, next) =>
        {
            if (http.GetEndpoint()?.Metadata.GetMetadata<VnetScope>() is { } scope)
                Curvnet.Set(await ResolveAsync(http, scope.Named ? http.Request.RouteValues[RouteValue] as string : null, Own(http)));
            await next(http);
        });
        return app;
    }

    /// <summary><c>Vnets:MaxInterfaces</c>, checked at start-up.</summary>
    public static WebApplicationBuilder AddIfVnets(this WebApplicationBuilder builder)
    {
        builder.Services.AddSettings<VnetOptions, VnetOptionsValidation>(VnetOptions.Section);
        builder.Services.AddSingleton(sp => sp.GetRequiredService<IOptions<VnetOptions>>().Value);
        builder.Services.AddSingleton<VnetDirectory>();
        return builder;
    }
}

/// <summary>An endpoint that works in a vnet: the caller's (<c>/v1/…</c>) or the one its path names (<c>/v1/vnets/{vnet}/…</c>).</summary>
public sealed class VnetScope(bool named)
{
    public static readonly VnetScope Callers = new(false), InPath = new(true);

    /// <summary>Whether the path names the vnet (<c>{vnet}</c>).</summary>
    public bool Named { get; } = named;
}

/// <summary>
/// Which vnets exist, as this replica last saw them: a vnet found is believed for a second (every
/// request in a vnet would otherwise cost a read), one deleted here is forgotten at once. A write
/// into a vnet another replica deleted within that second fails on the store's foreign key.
/// </summary>
public sealed class VnetDirectory(VnetService vnets)
{
    private static readonly long Believed = 1000;
    private readonly ConcurrentDictionary<string, long> _seen = new(StringComparer.Ordinal);

    public async ValueTask<bool> ExistsAsync(string name, CancellationToken ct)
    {
        if (name == Domain.Vnets.Host || _seen.TryGetValue(name, out var until) && Environment.TickCount64 < until)
            return true;
        if (!Domain.Vnets.IsValid(name) || !await vnets.ExistsAsync(name, ct))
        {
            _seen.TryRemove(name, out _);
            return false;
        }
        if (!BatchService.InDryRun) // a vnet a dry run made is gone with it
            _seen[name] = Environment.TickCount64 + Believed;
        return true;
    }

    public void Forget(string name) => _seen.TryRemove(name, out _);
}

internal sealed class VnetOptionsValidation : IValidateOptions<VnetOptions>
{
    public ValidateOptionsResult Validate(string? name, VnetOptions o) =>
        Settings.Check(o.MaxInterfaces >= 1 ? null : $"Vnets:MaxInterfaces '{o.MaxInterfaces}' is not a whole number of interfaces, at least 1");
}
